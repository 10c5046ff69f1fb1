"""ASGI entry point for `tem serve` and any ASGI server: `uvicorn tem.asgi:app`.

Scans go straight to the resolver's hot path, ahead of FastAPI's own layers (its error middleware and
request bookkeeping cost about 5% of a scan); everything else, the lifespan included, goes to the app,
where `ScanRouting` also serves scans for whoever mounts the app itself (tests, other servers).
"""

from time import perf_counter
from typing import Any

from resolver.hotpath import Request
from resolver.runtime import is_scan_path
from tem.app import create_app
from tem.core.settings import Settings
from tem.headers import SecurityHeaders

settings = Settings()
web = create_app(settings)
# The scans' answers carry the same security headers as the app's (which adds them itself).
secure = SecurityHeaders(web, https_base=settings.public_base_url.lower().startswith("https:"))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and is_scan_path(scope["path"]):
        runtime = web.state.tem.resolver
        send = secure.send_for(scope, send)
        timer = runtime.scan_seconds  # None with metrics off: then not even the clock is read
        if timer is None:
            await runtime.resolver.handle(Request(scope), send)
            return
        start = perf_counter()
        try:
            await runtime.resolver.handle(Request(scope), send)
        finally:
            timer.observe(perf_counter() - start)
        return
    await web(scope, receive, send)
