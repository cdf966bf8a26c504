"""Storage, cryptography, provider clients and publishing."""
