"""Repositories, HTTP clients and publishers."""
