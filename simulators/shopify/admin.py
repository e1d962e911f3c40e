"""Test and benchmark controls under /_admin: no auth, no rate limit, never faulted."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common import ADMIN_PREFIX

from .catalog import render_product
from .errors import ApiError
from .http import body_json, sim
from .seed import seed
from .values import JSONResponse
from .webhooks import deliver


async def _body(request: Request) -> dict:
    data = await body_json(request)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object")
    return data


async def reset(request: Request) -> Response:
    app_state = request.app.state
    sim(request).reset()
    app_state.bucket.configure(app_state.bucket_defaults)
    app_state.bucket.reset()
    app_state.faults.update({k: v for k, v in app_state.fault_defaults.items()})
    return JSONResponse({"ok": True})


async def seed_shop(request: Request) -> Response:
    return JSONResponse(seed(sim(request), await _body(request)))


async def state_dump(request: Request) -> Response:
    state = sim(request)
    dump = state.dump()
    dump["products"] = [render_product(state, p) for p in state.db.products.values()]
    dump["bucket"] = request.app.state.bucket.as_dict()
    dump["faults"] = request.app.state.faults.as_dict()
    return JSONResponse(dump)


async def faults(request: Request) -> Response:
    try:
        request.app.state.faults.update(await _body(request))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, str(exc)) from None
    return JSONResponse(request.app.state.faults.as_dict())


async def config(request: Request) -> Response:
    settings = sim(request).settings
    try:
        settings.update(await _body(request))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, str(exc)) from None
    return JSONResponse(asdict(settings))


async def requests_log(request: Request) -> Response:
    return JSONResponse({"requests": sim(request).requests})


async def clear_requests(request: Request) -> Response:
    sim(request).requests.clear()
    return JSONResponse({"ok": True})


async def bucket(request: Request) -> Response:
    target = request.app.state.bucket
    if request.method == "POST":
        try:
            target.configure(await _body(request))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, str(exc)) from None
    return JSONResponse(target.as_dict())


async def stats(request: Request) -> Response:
    return JSONResponse(dict(sim(request).stats))


async def deliver_webhooks(request: Request) -> Response:
    return JSONResponse(await deliver(sim(request)))


ROUTES = [
    Route(f"{ADMIN_PREFIX}/reset", reset, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/seed", seed_shop, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/state", state_dump, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/faults", faults, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/config", config, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/requests", requests_log, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/requests/clear", clear_requests, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/bucket", bucket, methods=["GET", "POST"]),
    Route(f"{ADMIN_PREFIX}/stats", stats, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/webhooks/deliver", deliver_webhooks, methods=["POST"]),
]
