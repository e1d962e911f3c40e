"""The operations page of `connector serve` and `connector ui`: health of every connection, runs
with their per-record results, the dead-letter queue grouped by root error with replay and
resolve, listings with their audit reasons, orders on both sides, stock per SKU, and the audit
log of what people did. Starlette routes, Jinja2 templates, htmx (vendored) for live updates."""

from __future__ import annotations

from engine.ui.access import Access
from engine.ui.app import PREFIX, Operations, routes

__all__ = ["PREFIX", "Access", "Operations", "routes", "standalone_app"]


def standalone_app(ops: Operations):  # noqa: ANN201
    """The page alone (`connector ui`): / goes to /ui/."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def root(request):  # noqa: ANN001, ANN202
        return RedirectResponse(PREFIX + "/", 307)

    return Starlette(routes=[Route("/", root, methods=["GET"]), *routes(ops)])


def serve_routes(server) -> list:  # noqa: ANN001
    """The page's routes inside `connector serve` (engine.serve.app mounts them): the served
    merchants, the server's live health, access from its bind address and `ui_auth`."""
    access = Access.configure(server.options.host, getattr(server.options, "ui_auth", None))

    def live() -> dict:
        return server.health_report()[1].get("merchants", {})

    merchants = {name: service.merchant for name, service in server.services.items()}
    return routes(Operations(merchants, access, live))
