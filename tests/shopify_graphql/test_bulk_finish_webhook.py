"""A bulk read is read as soon as Shopify's bulk_operations/finish webhook names its operation,
not at its next poll: the delivery goes through the receiver `connector serve` uses (verified,
then the connector's webhooks.notices), and the waiting read wakes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from gql_helpers import merchant
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.http.verify import build_verifier
from engine.serve.receiver import Endpoint
from simulators import shopify
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

ADDRESS = "https://connector.acme.test/webhooks/acme_graphql/shopify"


def test_the_finish_webhook_wakes_the_bulk_read_before_its_next_poll(tmp_path: Path) -> None:
    verdicts: list = []
    endpoints: list[Endpoint] = []

    async def receive(request: Request) -> Response:
        verdict = endpoints[0].check(await request.body(), {k.lower(): v for k, v in request.headers.items()})
        verdicts.append(verdict)
        return Response(status_code=verdict.status)

    receiver = LoopbackServer(Starlette(routes=[Route("/webhooks/{merchant}/{connection}", receive, methods=["POST"])]))
    receiver.start()
    try:
        with start_sandbox(products=4, seed=3, max_variants=2, invalid_share=0.0,
                           webhook_url=receiver.url) as sandbox:
            acme = merchant(sandbox, tmp_path)
            conn = acme.connection("shopify")
            hooks = conn.spec.webhooks
            endpoints.append(Endpoint("acme_graphql", "shopify", hooks, build_verifier(
                hooks.verifier, {"webhook_secret": shopify.DEFAULT_CREDENTIALS["webhook_secret"]}),
                max_body_bytes=1 << 20, window_seconds=None))
            conn.call("create_webhook", body={"topic": "BULK_OPERATIONS_FINISH", "address": ADDRESS})
            # The operation sits in Shopify's queue for a second; the read would poll again only a
            # minute later.
            sandbox.admin("shopify", "POST", "graphql/bulk_delay", json={"seconds": 1.0})
            bulk = conn.operation("bulk_products").request
            polls: list[str] = []
            original_call, original_poll = conn.call, bulk.poll_seconds

            def call(op, **kwargs):
                if op == "get_bulk_operation":
                    polls.append(threading.current_thread().name)
                return original_call(op, **kwargs)

            conn.call, bulk.poll_seconds = call, 60.0
            try:
                started = time.monotonic()
                records = [r for page in conn.paginate("bulk_products") for r in page.records]
                elapsed = time.monotonic() - started
            finally:
                conn.call, bulk.poll_seconds = original_call, original_poll
            acme.close()
    finally:
        receiver.stop()
    assert len(records) == 4 and all(r["variants"]["nodes"] for r in records)
    assert elapsed < 15, elapsed
    assert len(polls) == 1  # one read of the finished operation (its file's url), no polling before it
    finish = [v for v in verdicts if v.topic == "BULK_OPERATIONS_FINISH"]
    assert finish and finish[0].status == 200
