"""P5: a livestream burst of TikTok Shop order webhooks against `connector serve`: the time to
acknowledge each one (p50, p99), the time until every order exists in Shopify, and that none is
lost or created twice.

    quick: 2,000 order webhooks in 24 s      --full: 5,000 in 60 s (the issue's burst)

The simulators run in a process of their own with Shopify's limit raised (a 4,000-call bucket
leaking 200 calls/s, so Shopify is not the bottleneck; the row reports it). The TikTok simulator
makes the orders and their signed ORDER_STATUS_CHANGE webhooks; one webhook per order (its
latest) is sent from here at an even pace, each on its own request, to `connector serve` running
the example merchant in another process. Its baseline is a bare ASGI app that acknowledges without
verifying or storing, behind the same uvicorn, hit by the same sender.

    python bench/p5_webhooks.py bare PORT      # the baseline server (started by the row)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Config, Row, fmt_secs

WHAT = "order webhook burst: ack p50 / p99"
GOAL = "p99 < 50 ms, 0 lost, 0 dup"
SHOPIFY_LIMIT = {"bucket_size": 4000, "leak_per_second": 200.0}


def receiver():  # noqa: ANN201
    import importlib.util

    if importlib.util.find_spec("engine.serve") is None:
        return None
    import engine.serve

    return getattr(engine.serve, "webhook_app", None)


# ------------------------------------------------------------------------------ servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bare_main(port: int) -> None:
    """The baseline: acknowledge every POST at once, same uvicorn settings as `connector serve`."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def ack(request: Any) -> Response:
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    app = Starlette(routes=[Route("/webhooks/{merchant}/{connection}", ack, methods=["POST"]),
                            Route("/healthz", lambda r: Response(b"{}"), methods=["GET"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


# ------------------------------------------------------------------------------ the burst


async def _burst(url: str, events: list[dict], seconds: float) -> tuple[list[float], list[int]]:
    """Send each event at its slot of an even pace, each on its own request; latencies and statuses."""
    import httpx

    latencies: list[float] = [0.0] * len(events)
    statuses: list[int] = [0] * len(events)
    gap = seconds / max(len(events), 1)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter()

        async def one(index: int, event: dict) -> None:
            await asyncio.sleep(max(start + index * gap - time.perf_counter(), 0))
            sent = time.perf_counter()
            try:
                response = await client.post(url, content=event["body"].encode(), headers=event["headers"])
                statuses[index] = response.status_code
            except httpx.HTTPError:
                statuses[index] = -1
            latencies[index] = time.perf_counter() - sent

        await asyncio.gather(*(one(i, e) for i, e in enumerate(events)))
    return latencies, statuses


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def rows(cfg: Config) -> list[Row]:
    if receiver() is None:
        return [Row("P5", WHAT, goal=GOAL, note="not built yet: connector serve (issue 11)")]
    count, seconds = cfg.size(2000, 5000), cfg.size(24.0, 60.0)
    synchronous = os.environ.get("P5_SYNCHRONOUS", "full")
    figures = measure(count, seconds, seed=cfg.seed, synchronous=synchronous)
    p50, p99 = figures["ack_p50"], figures["ack_p99"]
    met = p99 < 0.050 and figures["lost"] == 0 and figures["duplicated"] == 0 and figures["refused"] == 0
    done = "not all" if figures["all_in_shopify_s"] is None else fmt_secs(figures["all_in_shopify_s"])
    note = (f"{count:,} webhooks in {seconds:.0f} s (synchronous {synchronous}); every order in Shopify after "
            f"{done} from the first send; lost {figures['lost']}, duplicated {figures['duplicated']}, refused "
            f"{figures['refused']}; Shopify simulator limit raised to a {SHOPIFY_LIMIT['bucket_size']:,}-call bucket "
            f"leaking {SHOPIFY_LIMIT['leak_per_second']:.0f}/s; baseline: a bare app that acknowledges at once")
    return [Row("P5", WHAT, value=f"{fmt_secs(p50)} / {fmt_secs(p99)}",
                baseline=f"{fmt_secs(figures['bare_p50'])} / {fmt_secs(figures['bare_p99'])}", ratio=None,
                goal=GOAL, met=met, note=note, extra=figures)]


def measure(count: int, seconds: float, *, seed: int = 42, synchronous: str = "full") -> dict[str, Any]:
    import httpx
    from _serve import Served

    from engine.flow.runner import FlowRun, Merchant

    # Enough stock for every order: the simulator refuses an order for a SKU that has run out.
    options = {"products": max(30, count // 50), "seed": seed, "invalid_share": 0.0, "max_variants": 3,
               "shopify_options": SHOPIFY_LIMIT}
    work = Path(tempfile.mkdtemp(prefix="bench-p5-"))
    with Served("sandbox", json.dumps(options)) as served:
        import shutil

        shutil.copytree(ROOT / "examples" / "acme", work / "acme")
        path = work / "acme" / "merchant.yaml"
        environ = served.info["environ"]
        merchant = Merchant(path, environ=environ)
        try:
            if FlowRun(merchant, "catalog").run().status != "ok":
                raise RuntimeError("the catalog could not be listed")
        finally:
            merchant.close()
        admin = httpx.Client(timeout=600)

        def call(name: str, method: str, route: str, **kwargs: Any) -> Any:
            response = admin.request(method, f"{served.info[name]}/_admin/{route}", **kwargs)
            response.raise_for_status()
            return response.json()

        call("tiktok_shop", "POST", "audit/run", json={})
        ids: list[str] = []
        for chunk in range(0, count, 1000):  # the generator makes at most 2,000 orders a call
            ids += call("tiktok_shop", "POST", "orders/generate", json={
                "count": min(1000, count - chunk), "seed": seed + chunk, "statuses": {"AWAITING_SHIPMENT": 1},
                "max_units": 2})["orders"]
        outbox = call("tiktok_shop", "GET", "webhooks/outbox", params={"event_type": "ORDER_STATUS_CHANGE"})["events"]
        latest: dict[str, dict] = {}
        for event in outbox:  # one webhook per order: its latest
            latest[str(json.loads(event["body"])["data"]["order_id"])] = event
        events = [latest[oid] for oid in ids if oid in latest]
        wanted = {f"TT{oid}" for oid in ids}

        port = _free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", str(path), "--port", str(port), "--no-schedule",
             "--synchronous", synchronous],
            env={**os.environ, **environ}, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_up(f"http://127.0.0.1:{port}/healthz", serve)
            started = time.perf_counter()
            latencies, statuses = asyncio.run(_burst(f"http://127.0.0.1:{port}/webhooks/acme/tiktok_us", events,
                                                     seconds))
            all_in: float | None = None
            deadline = time.perf_counter() + max(600.0, count * 0.2)
            while time.perf_counter() < deadline:
                counts = call("shopify", "GET", "orders/counts")
                if wanted <= set(counts["by_name"]):
                    all_in = time.perf_counter() - started
                    break
                time.sleep(0.5)
            counts = call("shopify", "GET", "orders/counts")
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
        finally:
            _stop(serve)

        bare_port = _free_port()
        bare = subprocess.Popen([sys.executable, str(Path(__file__)), "bare", str(bare_port)], cwd=str(ROOT))
        try:
            _wait_up(f"http://127.0.0.1:{bare_port}/healthz", bare)
            bare_latencies, _ = asyncio.run(_burst(f"http://127.0.0.1:{bare_port}/webhooks/acme/tiktok_us", events,
                                                   seconds))
        finally:
            _stop(bare)
        admin.close()
    acked = sum(1 for s in statuses if s == 200)
    by_name = counts["by_name"]
    return {
        "webhooks": len(events), "seconds": seconds, "synchronous": synchronous,
        "ack_p50": statistics.median(latencies), "ack_p99": _percentile(latencies, 0.99),
        "ack_max": max(latencies), "acknowledged": acked, "refused": len(events) - acked,
        "all_in_shopify_s": all_in, "orders_in_shopify": len(wanted & set(by_name)),
        "lost": len(wanted - set(by_name)), "duplicated": sum(n - 1 for n in by_name.values() if n > 1),
        "bare_p50": statistics.median(bare_latencies), "bare_p99": _percentile(bare_latencies, 0.99),
        "shopify_limit": SHOPIFY_LIMIT,
        "api_calls": [line for line in metrics.splitlines() if line.startswith("connector_api_")],
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "bare":
        bare_main(int(sys.argv[2]))
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
                                 float(sys.argv[2]) if len(sys.argv) > 2 else 12.0), indent=2, default=str))
