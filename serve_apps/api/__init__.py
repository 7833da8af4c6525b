"""The REST API: a FastAPI application served by Ray Serve (or any ASGI server)."""
