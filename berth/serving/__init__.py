"""Serving HTTP(S): the server processes and their certificates."""
