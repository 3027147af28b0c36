"""The browser's way in: static files of the web client, and IRC over WebSocket (h11 + wsproto)."""
