"""HTTP clients of the services' public JSON APIs and the sealed session cookie."""
