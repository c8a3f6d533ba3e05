"""The HTTP server side: uvicorn protocol extensions for moving blob bytes."""
