"""Pieces every simulator shares: deterministic fault knobs and a loopback server runner.

Faults are decided by a seeded random generator so a test that sets `seed` sees the same
sequence of injected errors on every run.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlsplit

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/_admin"


@dataclass
class FaultConfig:
    """Knobs a test or benchmark turns to make a simulator misbehave."""

    error_rate: float = 0.0  # share of requests answered with a server error
    latency_ms: float = 0.0  # added to every request
    burst_429: int = 0  # the next N requests are answered 429 (counts down)
    drop_rate: float = 0.0  # share of requests whose connection is closed without an answer
    seed: int = 0

    def update(self, values: dict) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault knob {key!r}; known: {', '.join(sorted(known))}")
            setattr(self, key, type(getattr(self, key))(value))

    def as_dict(self) -> dict:
        return asdict(self)


class FaultInjector:
    """ASGI middleware that applies a FaultConfig to every non-admin request.

    `server_error` and `throttled` build the platform's own error shapes, so an injected fault
    looks exactly like a real one to the connector.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: FaultConfig,
        server_error: Callable[[], Response],
        throttled: Callable[[float], Response],
    ) -> None:
        self.app = app
        self.config = config
        self.server_error = server_error
        self.throttled = throttled
        self.rng = random.Random(config.seed)
        self._seed = config.seed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        cfg = self.config
        if cfg.seed != self._seed:  # re-seeded through the admin API
            self.rng, self._seed = random.Random(cfg.seed), cfg.seed
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if cfg.burst_429 > 0:
            cfg.burst_429 -= 1
            await self.throttled(1.0)(scope, receive, send)
            return
        if cfg.drop_rate and self.rng.random() < cfg.drop_rate:
            raise ConnectionAbortedError("simulated dropped connection")  # uvicorn closes the socket
        if cfg.error_rate and self.rng.random() < cfg.error_rate:
            await self.server_error()(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def read_json(request: Request) -> tuple[bytes, object]:
    """Raw body bytes (signatures are over these) and the parsed JSON (None when empty)."""
    import json

    raw = await request.body()
    return raw, (json.loads(raw) if raw.strip() else None)


class LoopbackServer:
    """Runs an ASGI app with uvicorn in a background thread on 127.0.0.1 and a free port."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        # proto=IPPROTO_TCP, not the default 0: asyncio turns Nagle off on a transport's socket only
        # when its proto says TCP, and accepted sockets copy the listener's proto. With proto 0 every
        # response written in two parts (head, then body) waited ~40 ms for the client's delayed ACK.
        # TCP_NODELAY on the listener as well: Linux hands it down to the sockets it accepts.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"sim-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"simulator on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


Handler = Callable[[Request], Awaitable[Response]]


def pointed(address: str, base_url: str | None) -> str:
    """Where a webhook for `address` goes: `address` itself, or, when the simulator is pointed at a
    base URL (`POST /_admin/webhooks/point`), that URL with the address's path and query, so a
    subscription made for any host reaches a local `connector serve`."""
    if not base_url:
        return address
    parts = urlsplit(address)
    return base_url.rstrip("/") + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
