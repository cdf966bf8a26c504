"""Local HTTPS emulators of Google and Microsoft calendar providers for tests and the dev stack."""
