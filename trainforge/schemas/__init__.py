"""Pydantic models of the REST API: the one contract shared by the client and the server."""
