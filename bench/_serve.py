"""Servers for the benchmarks, each in a process of its own so that its work is not counted in the
measured process (its CPU time, its memory, its share of the interpreter lock).

    python bench/_serve.py pages DIR              # pre-rendered pages (P2)
    python bench/_serve.py sandbox '{"products": 1000, ...}'   # both simulators (P4, P6)

Prints one JSON line with the URLs once it listens, then serves until its standard input closes.
`Served` starts one from the measuring process and stops it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class Served:
    """A server process: `.info` is what it printed; closing stops it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__)), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"bench server {args[0]} did not start (exit {self.proc.returncode})")
        self.info: dict[str, Any] = json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pages_app(folder: Path) -> Any:
    """GET .../products.json?page_info=N answers page N (page 0 without page_info) with its Link."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    bodies = {int(p.stem): p.read_bytes() for p in folder.glob("*.json")}
    last = max(bodies)
    base: dict[str, str] = {}

    async def page(request: Request) -> Response:
        number = int(request.query_params.get("page_info") or 0)
        headers = {"X-Shopify-Shop-Api-Call-Limit": "1/40"}
        if number < last:
            url = f"{base['url']}{request.url.path}?limit=250&page_info={number + 1}"
            headers["Link"] = f'<{url}>; rel="next"'
        return Response(bodies[number], media_type="application/json", headers=headers)

    return Starlette(routes=[Route("/admin/api/2025-01/products.json", page)]), base


def main() -> None:
    import threading

    from simulators.common import LoopbackServer

    kind = sys.argv[1]
    if kind == "pages":
        app, base = _pages_app(Path(sys.argv[2]))
        server = LoopbackServer(app).start()
        base["url"] = server.url
        info: dict[str, Any] = {"url": server.url, "api": f"{server.url}/admin/api/2025-01"}
        stop = server.stop
    elif kind == "sandbox":
        from simulators.sandbox import start_sandbox

        sandbox = start_sandbox(**json.loads(sys.argv[2]))
        info = {**sandbox.describe(), "environ": sandbox.environ(), "products": len(sandbox.products)}
        stop = sandbox.stop
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    print(json.dumps(info), flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    stop()


if __name__ == "__main__":
    main()
