"""The secrets sweep: every credential of a merchant gets a distinctive value, a representative set
of commands runs in subprocesses at every log level (text and JSON logs), and every output is
searched for each secret and its common encodings: stdout, stderr, the state database's files
(every table, the WAL too), dead letters, run reports, /metrics, the operations page. 0 hits.

The rotated tokens the TikTok simulator hands out during the run are secrets too; the state key
(CONNECTOR_STATE_KEY) as well. A SHA-256 hex of a secret is allowed, the secret is not."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from engine.platforms.shopify import shopify_webhook_hmac
from engine.platforms.tiktok_shop import tiktok_webhook_signature
from engine.state import open_store
from engine.state.sealed import generate_key
from simulators.sandbox import start_sandbox

ROOT = Path(__file__).resolve().parents[2]
MARK = "Zq7sweep"  # in every secret, so a hit is easy to tell apart from a look-alike
APP_KEY = "sweep-app-key"
# Characters that URL encoding changes, as base64-looking secrets have: a secret sent in a query
# string must be masked in its encoded form too.
SECRETS = {
    "app_secret": f"{MARK}+tts/app=secret-5b1f",
    "access_token": f"{MARK}-tts-access-9c2e",
    "refresh_token": f"{MARK}+tts/refresh==7d4a",
    "shopify_token": f"shpat_{MARK}_shopify_token_3e8b",
    "webhook_secret": f"{MARK}-shopify-webhook-secret-1a6c",
    "ui_token": f"{MARK}-operations-page-token-8f0d",
}
STATE_KEY = generate_key()


def encodings(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    found = {"plain": raw, "url": quote(secret, safe="").encode(), "url+": quote_plus(secret).encode(),
             "hex": raw.hex().encode(), "utf-16": secret.encode("utf-16-le")}
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        found[name] = encode(raw).rstrip(b"=")
    return found


def hits(secrets: dict[str, str], outputs: dict[str, bytes]) -> list[str]:
    """'<where>: <secret> (<encoding>)' for each secret found in each output."""
    return [f"{where}: {name} ({how})" for where, data in outputs.items()
            for name, secret in secrets.items() for how, needle in encodings(secret).items() if needle in data]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_search_finds_a_secret_in_any_of_its_encodings() -> None:
    import hashlib

    secret = SECRETS["app_secret"] + "/+ &="  # characters that URL and base64 encodings change
    for how, needle in encodings(secret).items():
        assert f"out: s ({how})" in hits({"s": secret}, {"out": b"x=" + needle + b"&y"})
    assert hits({"s": secret}, {"out": b"Authorization: Basic " + base64.b64encode(secret.encode())})
    assert hits({"s": secret}, {"out": hashlib.sha256(secret.encode()).hexdigest().encode()}) == []


@pytest.fixture
def merchant(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "acme", tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    return tmp_path / "acme" / "merchant.yaml"


@pytest.mark.slow
def test_no_secret_reaches_any_output(tmp_path: Path, merchant: Path) -> None:
    sandbox = start_sandbox(
        products=6, seed=31, max_variants=2, invalid_share=0.34,
        tiktok_options={"app_key": APP_KEY, "app_secret": SECRETS["app_secret"],
                        "access_token": SECRETS["access_token"], "refresh_token": SECRETS["refresh_token"]},
        shopify_options={"access_token": SECRETS["shopify_token"], "webhook_secret": SECRETS["webhook_secret"]})
    outputs: dict[str, bytes] = {}
    env = {**os.environ, **sandbox.environ(), "ACME_TIKTOK_APP_KEY": APP_KEY,
           "ACME_TIKTOK_APP_SECRET": SECRETS["app_secret"], "ACME_TIKTOK_ACCESS_TOKEN": SECRETS["access_token"],
           "ACME_TIKTOK_REFRESH_TOKEN": SECRETS["refresh_token"], "ACME_SHOPIFY_TOKEN": SECRETS["shopify_token"],
           "ACME_SHOPIFY_WEBHOOK_SECRET": SECRETS["webhook_secret"], "CONNECTOR_STATE_KEY": STATE_KEY,
           "SWEEP_UI_TOKEN": SECRETS["ui_token"],
           "COLUMNS": "200"}
    env.pop("CONNECTOR_STATE_URL", None)
    secrets = {**SECRETS, "state_key": STATE_KEY}
    rotated: list[str] = []

    def connector(*commands: tuple[str, ...], expect: tuple[int, ...] = (0,)) -> list[bytes]:
        """Run the commands side by side (each a subprocess), keep their outputs; their stderr."""
        running = [(args, subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=env, cwd=tmp_path,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)) for args in commands]
        errors = []
        for args, process in running:
            out, err = process.communicate(timeout=120)
            where = " ".join(args)
            assert process.returncode in expect, f"{where} exited {process.returncode}: {err.decode()[-3000:]}"
            assert b"Traceback" not in out
            outputs[f"{where} (stdout)"], outputs[f"{where} (stderr)"] = out, err
            errors.append(err)
        return errors

    try:
        file = str(merchant)
        sandbox.admin("tiktok_shop", "POST", "expire_token")  # the dry run refreshes it
        connector(("-vv", "--log-format", "json", "validate", str(merchant.parent)),
                  ("-vv", "--log-format", "json", "run", file, "catalog", "--dry-run"), expect=(0, 3))
        first = sandbox.admin("tiktok_shop", "GET", "state")["tokens"]
        sandbox.admin("tiktok_shop", "POST", "expire_token")  # and the real run again
        stderr = connector(("-vv", "run", file, "catalog"), expect=(3,))[0]
        assert b"/api/v2/token/refresh" in stderr, "the run did not refresh the TikTok token"
        second = sandbox.admin("tiktok_shop", "GET", "state")["tokens"]
        rotated += [first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]]

        with open_store(str(merchant.parent / ".state" / "acme.db")) as store:
            assert store.kv_get("tokens", "tiktok_shop:tiktok_us").keys() == {"sealed"}  # the rotated tokens are in the file
            ids = [letter["id"] for letter in store.list_dead_letters()][:2]
            run_ids = [run["run_id"] for run in store.list_runs(limit=5)][:2]
        assert ids and run_ids
        connector(("--log-format", "json", "-vv", "dlq", "list", file), ("-vv", "dlq", "show", file, str(ids[0])),
                  ("-vv", "--log-format", "json", "runs", file), ("runs", file, "--run", run_ids[0], "-vv"),
                  ("-vv", "status", file), ("-vv", "--log-format", "json", "status", file, "--json"))

        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "engine.cli", "-vv", "--log-format", "json", "serve", file,
                                   "--port", str(port), "--no-schedule",
                                   "--ui-auth", "token:${env:SWEEP_UI_TOKEN}"],
                                  env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, f"serve exited {server.returncode}"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
            with httpx.Client(base_url=base, timeout=30, follow_redirects=True,
                              headers={"Authorization": f"Bearer {SECRETS['ui_token']}"}) as client:
                body = json.dumps({"id": 820982911946154508, "name": "#9999"}).encode()
                shopify = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                           "X-Shopify-Shop-Domain": "acme-outdoors.myshopify.com", "X-Shopify-API-Version": "2025-01",
                           "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                           "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
                forged = client.post("/webhooks/acme/shopify", content=body, headers={
                    **shopify, "X-Shopify-Hmac-Sha256": shopify_webhook_hmac("not-the-secret", body)})
                assert forged.status_code == 401, forged.text
                valid = client.post("/webhooks/acme/shopify", content=body, headers={
                    **shopify, "X-Shopify-Hmac-Sha256": shopify_webhook_hmac(SECRETS["webhook_secret"], body)})
                assert valid.status_code == 200, valid.text
                tiktok = json.dumps({"type": 1, "tts_notification_id": "7380066284010030890",
                                     "shop_id": "7495540735365777507", "timestamp": int(time.time()),
                                     "data": {"order_id": "576653688135258178", "order_status": "AWAITING_SHIPMENT",
                                              "update_time": 1}}, separators=(",", ":")).encode()
                forged = client.post("/webhooks/acme/tiktok_us", content=tiktok, headers={
                    "Content-Type": "application/json", "Authorization": tiktok_webhook_signature(APP_KEY, "x", tiktok)})
                assert forged.status_code == 401, forged.text
                valid = client.post("/webhooks/acme/tiktok_us", content=tiktok, headers={
                    "Content-Type": "application/json",
                    "Authorization": tiktok_webhook_signature(APP_KEY, SECRETS["app_secret"], tiktok)})
                assert valid.status_code == 200, valid.text
                time.sleep(1.0)  # the workers take the events
                for path in ("/metrics", "/healthz", "/ui/", "/ui/m/acme/health", "/ui/m/acme/runs", "/ui/m/acme/dlq",
                             *(f"/ui/m/acme/dlq/{i}" for i in ids)):
                    page = client.get(path)
                    assert page.status_code == 200, f"{path}: {page.status_code}"
                    outputs[f"GET {path}"] = page.content
                assert b"# TYPE" in outputs["GET /metrics"] and b"<html" in outputs["GET /ui/m/acme/dlq"].lower()
        finally:
            server.terminate()
            out, err = server.communicate(timeout=30)
            outputs["serve (stdout)"], outputs["serve (stderr)"] = out, err
        assert b"Traceback" not in outputs["serve (stdout)"]

        # An auth failure: the platform forgot the rotation (its seed tokens again), so the stored
        # access token is refused; the run ends early, its error and the breaker's reason stored.
        sandbox.admin("tiktok_shop", "POST", "reset")
        sandbox.admin("tiktok_shop", "POST", "expire_token")
        connector(("-vv", "--log-format", "json", "run", file, "listing_status"), expect=(4,))
        connector(("-vv", "status", file), ("-vv", "runs", file))

        for path in sorted((merchant.parent / ".state").iterdir()):
            if not path.name.endswith(".key"):  # a key file holds the key, as it must
                outputs[f"state file {path.name}"] = path.read_bytes()
        assert any(name.endswith(".db") for name in outputs if name.startswith("state file"))
    finally:
        sandbox.stop()

    for number, token in enumerate(rotated):
        secrets[f"rotated_{number}"] = token
    assert len(set(rotated)) == 4 and not set(rotated) & set(SECRETS.values()), "no token was rotated"
    found = hits(secrets, outputs)
    print(f"secrets sweep: {len(secrets)} secrets x {len(encodings(STATE_KEY))} encodings in {len(outputs)} outputs "
          f"({sum(map(len, outputs.values()))} bytes): {len(found)} found")
    assert found == [], "secrets found:\n" + "\n".join(found)
