"""The loopback server every simulator runs on: accepted connections have Nagle off."""

from __future__ import annotations

import socket

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.common import LoopbackServer


async def _ping(request):
    return JSONResponse({"ok": True})


def test_accepted_connections_have_tcp_nodelay_so_replies_do_not_wait_for_a_delayed_ack():
    app = Starlette(routes=[Route("/ping", _ping)])
    with LoopbackServer(app) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            assert client.get("/ping").json() == {"ok": True}
        connections = list(server.server.server_state.connections)
        assert connections, "the keep-alive connection should still be open"
        for connection in connections:
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
