"""Auth service: tenants, employees, API sign-in (JWT/JWKS), calendar connections (OAuth linking
for Google Workspace and Microsoft 365, encrypted refresh tokens) and the internal token API."""
