"""SMTP sender and the sent-mail store."""
