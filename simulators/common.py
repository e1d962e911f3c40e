"""Pieces every simulator shares: deterministic fault knobs and a loopback server runner.

Faults are decided by a seeded random generator so a test that sets `seed` sees the same
sequence of injected errors on every run.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from typing import NoReturn
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/_admin"


@dataclass
class FaultConfig:
    """Knobs a test or benchmark turns to make a simulator misbehave.

    Request faults (every simulator, through FaultInjector), in the order they are decided:
    latency, a spike, a 429 burst, a timeout, a dropped connection, a server error, and an answer
    lost after the request was processed. Webhook faults (the simulators that send webhooks, through
    WebhookFaults): a delivery sent twice, held back, or sent out of order. Every injected fault is
    counted in `injected` (GET /_admin/faults returns the counts).
    """

    error_rate: float = 0.0  # share of requests answered with a server error
    latency_ms: float = 0.0  # added to every request
    burst_429: int = 0  # the next N requests are answered 429 (counts down)
    drop_rate: float = 0.0  # share of requests whose connection is closed without an answer (not processed)
    spike_rate: float = 0.0  # share of requests delayed by spike_ms on top of latency_ms
    spike_ms: float = 0.0
    timeout_rate: float = 0.0  # share of requests held timeout_ms (past the client's read timeout), then cut
    timeout_ms: float = 0.0
    lost_answer_rate: float = 0.0  # share of requests processed (state changed), then cut before the answer
    webhook_duplicate_rate: float = 0.0  # share of delivered webhooks delivered a second time
    webhook_late_rate: float = 0.0  # share of webhooks held back webhook_late_ms before their first attempt
    webhook_late_ms: float = 0.0
    webhook_reorder: bool = False  # each batch of due deliveries is sent in a shuffled order
    seed: int = 0

    def __post_init__(self) -> None:
        self.injected: Counter[str] = Counter()  # fault name -> times injected (not a knob)

    def update(self, values: dict) -> None:
        known = {f.name for f in fields(self)}
        if not isinstance(values, dict):
            raise ValueError("fault knobs must be a JSON object")
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault knob {key!r}; known: {', '.join(sorted(known))}")
            kind = type(getattr(self, key))
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"fault knob {key!r} must be true or false")
            setattr(self, key, kind(value))

    def as_dict(self) -> dict:
        return asdict(self)

    def count(self, fault: str, n: int = 1) -> None:
        self.injected[fault] += n

    def report(self) -> dict:
        """The knobs and what was injected so far (GET /_admin/faults)."""
        return {**self.as_dict(), "injected": dict(self.injected), "injected_total": sum(self.injected.values())}


class FaultInjector:
    """ASGI middleware that applies a FaultConfig to every non-admin request.

    `server_error` and `throttled` build the platform's own error shapes, so an injected fault
    looks exactly like a real one to the connector. A cut connection starts an answer it never
    finishes, so whatever sits outside (Starlette's error page, uvicorn) closes the socket instead
    of answering 500: the client sees what it sees on a real drop.
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

    def _roll(self, rate: float) -> bool:
        return bool(rate) and self.rng.random() < rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        cfg = self.config
        if cfg.seed != self._seed:  # re-seeded through the admin API
            self.rng, self._seed = random.Random(cfg.seed), cfg.seed
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if cfg.spike_ms and self._roll(cfg.spike_rate):
            cfg.count("latency_spike")
            await asyncio.sleep(cfg.spike_ms / 1000)
        if cfg.burst_429 > 0:
            cfg.burst_429 -= 1
            cfg.count("throttled_429")
            await self.throttled(1.0)(scope, receive, send)
            return
        if self._roll(cfg.timeout_rate):
            cfg.count("timeout")
            await asyncio.sleep(cfg.timeout_ms / 1000)
            await cut(send, "simulated timeout")
        if self._roll(cfg.drop_rate):
            cfg.count("dropped_connection")
            await cut(send, "simulated dropped connection")
        if self._roll(cfg.error_rate):
            cfg.count("server_error")
            await self.server_error()(scope, receive, send)
            return
        if self._roll(cfg.lost_answer_rate):
            cfg.count("answer_lost")

            async def swallow(message: Message) -> None:
                return None  # processed in full; not a byte of the answer leaves

            await self.app(scope, receive, swallow)
            await cut(send, "simulated answer lost after processing")
        await self.app(scope, receive, send)


class _QuietCuts(logging.Filter):
    """Keeps uvicorn from logging a traceback for every connection the injector cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionAbortedError)
                    and str(record.exc_info[1]).startswith("simulated "))


logging.getLogger("uvicorn.error").addFilter(_QuietCuts())


async def cut(send: Send, reason: str) -> NoReturn:
    """Close the connection without an answer: start one that promises a body, then fail."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")]})
    raise ConnectionAbortedError(reason)


class WebhookFaults:
    """Webhook delivery faults of a FaultConfig, for the simulators that send webhooks.

    `plan(due)` returns the deliveries to attempt now: some held back for webhook_late_ms before
    their first attempt, the rest shuffled when webhook_reorder is on; `again()` says whether a
    delivery that succeeded is sent a second time (the platform lost the acknowledgement).
    """

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed + 1)
        self.held: dict[int, float] = {}  # id() of a delivery -> monotonic time it may go

    def plan(self, due: list, key: Callable[[object], object] = id) -> list:
        cfg, now, out = self.config, time.monotonic(), []
        for item in due:
            k = key(item)
            if k not in self.held:
                late = bool(cfg.webhook_late_rate) and self.rng.random() < cfg.webhook_late_rate
                self.held[k] = now + cfg.webhook_late_ms / 1000 if late else 0.0
                if late:
                    cfg.count("webhook_late")
            if self.held[k] <= now:
                out.append(item)
        if cfg.webhook_reorder and len(out) > 1:
            before = list(out)
            self.rng.shuffle(out)
            moved = sum(1 for a, b in zip(before, out, strict=True) if a is not b)
            if moved:
                cfg.count("webhook_out_of_order", moved)
        return out

    def next_due(self) -> float | None:
        """Seconds until the earliest held delivery may go (None: nothing held)."""
        now = time.monotonic()
        waits = [at - now for at in self.held.values() if at > now]
        return min(waits) if waits else None

    def again(self) -> bool:
        rate = self.config.webhook_duplicate_rate
        if rate and self.rng.random() < rate:
            self.config.count("webhook_duplicate")
            return True
        return False


def add_fault_injection(app: Starlette, config: FaultConfig, server_error: Callable[[], Response],
                        throttled: Callable[[float], Response]) -> None:
    """Give a simulator without faults of its own the shared knobs: the injector around its routes
    and GET/POST /_admin/faults (POST sets knobs, both answer the knobs and the injected counts)."""

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                config.update(await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(config.report())

    app.router.routes.insert(0, Route(f"{ADMIN_PREFIX}/faults", faults, methods=["GET", "POST"]))
    app.add_middleware(FaultInjector, config=config, server_error=server_error, throttled=throttled)
    app.state.faults = config


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
