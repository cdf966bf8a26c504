"""Thin FastAPI routes answering server-rendered pages (Jinja2)."""
