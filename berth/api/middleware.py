"""Pure ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware)."""
from __future__ import annotations


class StaticHeaders:
    """Adds fixed headers to every HTTP response."""

    def __init__(self, app, headers: dict[str, str]):
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
