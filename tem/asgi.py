"""ASGI entry point for `tem serve` and any ASGI server: `uvicorn tem.asgi:app`."""

from tem.app import create_app

app = create_app()
