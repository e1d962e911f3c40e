"""The operations page: Starlette routes under /ui, mounted into `connector serve`'s app or served
alone by `connector ui`.

Reads go through each merchant's StateStore. Actions (replay, replay with an edited payload,
resolve; one dead letter or a whole group) are POSTs with a CSRF token, run the same code as
`connector dlq replay` / `dlq resolve`, and are written to the store's audit log with who did them.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from engine import decimal_json
from engine.errors import ConnectorError
from engine.project.secrets import REDACTOR
from engine.ui import charts, views
from engine.ui.access import CSRF_COOKIE, TOKEN_COOKIE, Access, csrf_ok, csrf_token

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PREFIX = "/ui"
POLL_SECONDS = 5
MAX_FORM_BYTES = 1024 * 1024
LETTERS_SHOWN = 50  # rows listed per dead-letter group; the group's actions take all of them
PAGES = (("health", "Health"), ("runs", "Runs"), ("dlq", "Dead letters"), ("listings", "Listings"),
         ("orders", "Orders"), ("stock", "Stock"), ("audit", "Audit log"))


@dataclass
class Operations:
    """What the page serves: loaded merchants (engine.flow.runner.Merchant) by name, who may use it,
    and, inside `connector serve`, the server's live health per merchant and connection."""

    merchants: dict[str, Any]
    access: Access
    live_health: Callable[[], dict] | None = None
    poll_seconds: int = POLL_SECONDS  # how often a page reads itself again (0: never)
    _notes: OrderedDict[str, str] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Opening the connections resolves their credentials, which teaches the redactor every
        # secret the pages must mask (payloads were redacted when filed, by what that run knew).
        for merchant in self.merchants.values():
            for name in merchant.doc.get("connections") or {}:
                try:
                    merchant.connection(name)
                except ConnectorError as exc:
                    log.warning("%s / %s: %s; replaying its flows will fail until it is set", merchant.name, name,
                                REDACTOR.text(str(exc)))

    def note(self, text: str) -> str:
        """Keep a message for the page the browser is sent to after an action; its id."""
        key = secrets.token_urlsafe(8)
        with self._lock:
            self._notes[key] = text
            while len(self._notes) > 200:
                self._notes.popitem(last=False)
        return key

    def take_note(self, key: str | None) -> str:
        with self._lock:
            return self._notes.pop(key, "") if key else ""


def routes(ops: Operations) -> list[BaseRoute]:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["when"] = lambda stamp: (stamp or "")[:19].replace("T", " ")
    templates.env.filters["percent"] = lambda share: "n/a" if share is None else f"{share * 100:.1f}%"

    def merchant_of(request: Request) -> Any:
        merchant = ops.merchants.get(request.path_params.get("merchant", ""))
        if merchant is None:
            raise _NotFound(f"no merchant {request.path_params.get('merchant')!r} here")
        return merchant

    def page(request: Request, name: str, context: dict, *, poll: bool = True) -> Response:
        token, new = csrf_token(request)
        merchant = request.path_params.get("merchant")
        response = templates.TemplateResponse(request, name, {
            "prefix": PREFIX, "merchants": list(ops.merchants), "merchant": merchant, "pages": PAGES,
            "csrf": token, "actor": request.state.actor, "poll": ops.poll_seconds if poll else 0,
            "note": ops.take_note(request.query_params.get("note")),
            "read_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), **context})
        if new:
            response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path=PREFIX)
        return response

    def guarded(handler: Callable, *, action: bool = False) -> Callable:
        async def endpoint(request: Request) -> Response:
            actor = ops.access.actor(request)
            if actor is None:
                if ops.access.locked:
                    return PlainTextResponse("The operations page is off: the server is reachable from other "
                                             "machines and the page has no credentials (--ui-auth).", 403)
                if ops.access.token is not None and request.method == "GET":
                    return _login_form(request)
                return PlainTextResponse("Sign in first.", 401, headers=ops.access.challenge())
            request.state.actor = actor
            form: dict[str, str] = {}
            if action:
                body = await request.body()
                if len(body) > MAX_FORM_BYTES:
                    return PlainTextResponse("The form is too large.", 413)
                form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
                if not csrf_ok(request, form):
                    return PlainTextResponse("This action lacks a valid CSRF token: reload the page and try again.", 403)
            try:
                if action:
                    return await handler(request, form)
                return await to_thread.run_sync(handler, request)
            except _NotFound as exc:
                return PlainTextResponse(str(exc), 404)
        return endpoint

    def _login_form(request: Request) -> Response:
        token, new = csrf_token(request)
        response = templates.TemplateResponse(request, "login.html", {"prefix": PREFIX, "csrf": token,
                                                                      "next": request.url.path}, status_code=401)
        if new:
            response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path=PREFIX)
        return response

    async def login(request: Request) -> Response:
        body = await request.body()
        form = {k: v[-1] for k, v in parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace")).items()}
        if ops.access.token is None or not csrf_ok(request, form):
            return PlainTextResponse("Refused.", 403)
        response = RedirectResponse(_local(form.get("next")), 303)
        response.set_cookie(TOKEN_COOKIE, form.get("token", ""), httponly=True, samesite="strict", path=PREFIX)
        return response

    # ------------------------------------------------------------------ pages

    def home(request: Request) -> Response:
        live = ops.live_health() if ops.live_health else {}
        merchants = [{"name": name, "connections": views.connections_health(m, live.get(name))}
                     for name, m in ops.merchants.items()]
        return page(request, "health.html", {"rows": merchants, "page_name": "health"})

    def health(request: Request) -> Response:
        merchant = merchant_of(request)
        live = (ops.live_health() if ops.live_health else {}).get(merchant.name)
        series = views.throughput(merchant)
        return page(request, "health.html", {
            "rows": [{"name": merchant.name, "connections": views.connections_health(merchant, live)}],
            "charts": {name: charts.time_bars(points) for name, points in series.items()}, "page_name": "health"})

    def runs(request: Request) -> Response:
        merchant = merchant_of(request)
        flow, status = request.query_params.get("flow") or "", request.query_params.get("status") or ""
        return page(request, "runs.html", {"runs": views.runs(merchant, flow, status), "flow": flow, "status": status,
                                           "flows": merchant.flow_names(), "statuses": views.RUN_STATUSES,
                                           "page_name": "runs"})

    def run(request: Request) -> Response:
        merchant = merchant_of(request)
        run_id = request.path_params["run_id"]
        found = merchant.store.get_run(run_id)
        if found is None or found.get("merchant") != merchant.name:
            raise _NotFound(f"no run {run_id!r} of {merchant.name}")
        status, query = request.query_params.get("status") or "", request.query_params.get("q") or ""
        return page(request, "run.html", {
            "run": {**found, "status": found.get("status") or "running", "counts": views._counts(found),
                    "error": REDACTOR.text(str((found.get("summary") or {}).get("error") or ""))},
            "results": views.run_results(merchant, run_id, status, query), "status": status, "q": query,
            "result_counts": merchant.store.run_counts(run_id), "statuses": ("ok", "failed", "skipped", "dead_letter"),
            "page_name": "runs"})

    def dlq(request: Request) -> Response:
        merchant = merchant_of(request)
        return page(request, "dlq.html", {"groups": views.dead_letter_groups(merchant), "page_name": "dlq",
                                           "shown": LETTERS_SHOWN})

    def letter(request: Request) -> Response:
        merchant = merchant_of(request)
        found = _letter(merchant, request.path_params["dlq_id"])
        return page(request, "letter.html", {"letter": views.dead_letter_view(found), "page_name": "dlq"}, poll=False)

    def listings(request: Request) -> Response:
        merchant = merchant_of(request)
        status = request.query_params.get("status") or ""
        return page(request, "listings.html", {**views.listings(merchant, status or None), "status": status,
                                               "page_name": "listings"})

    def orders(request: Request) -> Response:
        merchant = merchant_of(request)
        return page(request, "orders.html", {"orders": views.orders(merchant), "page_name": "orders"})

    def stock(request: Request) -> Response:
        merchant = merchant_of(request)
        rows = views.stock(merchant)
        channels = sorted({name for row in rows for name in row["channels"]})
        return page(request, "stock.html", {"rows": rows, "channels": channels, "page_name": "stock",
                                            "chart": charts.stock_bars(rows[:40], channels)})

    def audit(request: Request) -> Response:
        merchant = merchant_of(request)
        return page(request, "audit.html", {"entries": views.audit(merchant.store, merchant.name),
                                            "page_name": "audit"})

    # ------------------------------------------------------------------ actions

    async def replay(request: Request, form: dict[str, str]) -> Response:
        merchant = merchant_of(request)
        ids = _ids(form.get("ids", ""))
        back = _local(form.get("back"), f"{PREFIX}/m/{merchant.name}/dlq")
        edited = form.get("payload")
        payload = None
        if edited is not None:
            try:
                payload = decimal_json.loads(edited)
            except json.JSONDecodeError as exc:
                return _back(ops, back, f"The edited payload is not JSON ({exc}); nothing was replayed.")
            if len(ids) != 1:
                return _back(ops, back, "An edited payload replays exactly one dead letter.")
        letters = [merchant.store.get_dead_letter(i) for i in ids]
        flows = {letter["flow"] for letter in letters if letter and letter["merchant"] == merchant.name}
        if not ids or len(flows) != 1 or any(not letter or letter["merchant"] != merchant.name for letter in letters):
            return _back(ops, back, "Nothing replayed: choose dead letters of one flow of this merchant.")
        flow = flows.pop()
        from engine.cli.run import replay_dead_letters

        try:
            report = await to_thread.run_sync(replay_dead_letters, merchant, flow, ids, payload)
        except ConnectorError as exc:
            message = REDACTOR.text(str(exc))
            _audit(merchant, request, "replay", ids, {"flow": flow, "edited": payload is not None, "error": message})
            return _back(ops, back, f"Replay refused: {message}")
        still = [i for i in ids if (merchant.store.get_dead_letter(i) or {}).get("status") == "open"]
        outcome = "all replayed" if not still else f"{len(still)} still failing"
        if isinstance(report, list):  # dead-lettered webhook events, through the flows they trigger
            results = dict(sorted(Counter(result.status for result in report).items()))
            _audit(merchant, request, "replay", ids, {"flow": flow, "events": results})
            return _back(ops, back, f"Replayed {len(report)} webhook event{'s' if len(report) != 1 else ''} ("
                                    + ", ".join(f"{k} {v}" for k, v in results.items()) + f"): {outcome}.")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
        _audit(merchant, request, "replay_edited" if payload is not None else "replay", ids,
               {"flow": flow, "run_id": report.run_id, "status": report.status, "counts": report.counts})
        return _back(ops, back, f"Replayed {len(ids)} dead letter{'s' if len(ids) != 1 else ''} of {flow} in run "
                                f"{report.run_id} ({report.status}: {counts}): {outcome}.")

    async def resolve(request: Request, form: dict[str, str]) -> Response:
        merchant = merchant_of(request)
        ids = _ids(form.get("ids", ""))
        note = form.get("note", "").strip()[:500]
        back = _local(form.get("back"), f"{PREFIX}/m/{merchant.name}/dlq")
        letters = [merchant.store.get_dead_letter(i) for i in ids]
        if not ids or any(not letter or letter["merchant"] != merchant.name for letter in letters):
            return _back(ops, back, "Nothing resolved: no such dead letters of this merchant.")
        opened = [letter["id"] for letter in letters if letter["status"] == "open"]

        def close() -> None:
            for dlq_id in opened:
                merchant.store.resolve_dead_letter(dlq_id, note)

        await to_thread.run_sync(close)
        _audit(merchant, request, "resolve", opened, {"note": note})
        return _back(ops, back, f"Resolved {len(opened)} dead letter{'s' if len(opened) != 1 else ''}.")

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    pages = [
        Route("/", guarded(home), methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/m/{merchant}/", guarded(health), methods=["GET"]),
        Route("/m/{merchant}/health", guarded(health), methods=["GET"]),
        Route("/m/{merchant}/runs", guarded(runs), methods=["GET"]),
        Route("/m/{merchant}/runs/{run_id}", guarded(run), methods=["GET"]),
        Route("/m/{merchant}/dlq", guarded(dlq), methods=["GET"]),
        Route("/m/{merchant}/dlq/{dlq_id:int}", guarded(letter), methods=["GET"]),
        Route("/m/{merchant}/dlq/replay", guarded(replay, action=True), methods=["POST"]),
        Route("/m/{merchant}/dlq/resolve", guarded(resolve, action=True), methods=["POST"]),
        Route("/m/{merchant}/listings", guarded(listings), methods=["GET"]),
        Route("/m/{merchant}/orders", guarded(orders), methods=["GET"]),
        Route("/m/{merchant}/stock", guarded(stock), methods=["GET"]),
        Route("/m/{merchant}/audit", guarded(audit), methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return [Mount(PREFIX, routes=pages), Route("/favicon.ico", favicon, methods=["GET"])]


class _NotFound(Exception):
    pass


def _letter(merchant: Any, dlq_id: int) -> dict:
    found = merchant.store.get_dead_letter(int(dlq_id))
    if found is None or found.get("merchant") != merchant.name:
        raise _NotFound(f"no dead letter {dlq_id} of {merchant.name}")
    return found


def _ids(text: str) -> list[int]:
    out = []
    for part in text.replace(",", " ").split():
        if part.isdigit():
            out.append(int(part))
    return sorted(set(out))


def _local(path: str | None, default: str = PREFIX + "/") -> str:
    """Where to send the browser after a form: a path of this page only (never another site)."""
    if path and path.startswith(PREFIX + "/") and "//" not in path and "\\" not in path:
        return path
    return default


def _back(ops: Operations, back: str, message: str) -> Response:
    base = back.split("?", 1)[0]
    return RedirectResponse(f"{base}?{urlencode({'note': ops.note(message)})}", 303)


def _audit(merchant: Any, request: Request, action: str, ids: list[int], detail: dict) -> None:
    merchant.store.add_audit_entry(merchant.name, request.state.actor, action,
                                   ",".join(f"dead_letter:{i}" for i in ids), REDACTOR.data(detail))
    log.info("%s: %s %s by %s", merchant.name, action, ids, request.state.actor)
