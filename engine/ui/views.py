"""What the pages show, read from each merchant's state store (and, inside `connector serve`, from
the server's live health). Every text that came from a platform or a record goes through the
redactor here, before any template sees it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.cli.listings import NOT_SEEN, listing_rows, reasons_text, tracking_connections
from engine.cli.render import error_lines, letter_label
from engine.http.breaker import breaker_label
from engine.project.secrets import REDACTOR

RECENT_RUNS = 200  # runs read for health, error rates and charts
ERROR_WINDOW_HOURS = 24


def redact(value: Any) -> Any:
    return REDACTOR.data(value)


def flow_connections(merchant: Any) -> dict[str, list[str]]:
    """Flow (local name) -> the connections it is bound to."""
    out = {}
    for local, binding in (merchant.doc.get("flows") or {}).items():
        out[local] = sorted(set((binding.get("connections") or {}).values()))
    return out


def connection_names(merchant: Any) -> list[str]:
    return list(merchant.doc.get("connections") or {})


def _counts(run: dict) -> dict[str, int]:
    return {k: int(v) for k, v in ((run.get("summary") or {}).get("counts") or {}).items() if isinstance(v, int)}


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def budget_used(connection: Any) -> float | None:
    """Share of the connection's API rate budget in use now (0..1), from its limiter's model; None
    when this process has not opened the connection or its limiter keeps no budget."""
    limiter = getattr(connection, "limiter", None)
    if limiter is None:
        return None
    size = getattr(limiter, "size", None)
    if size and hasattr(limiter, "level"):
        return min(float(limiter.level) / float(size), 1.0)
    capacity, tokens = getattr(limiter, "capacity", None), getattr(limiter, "_tokens", None)
    if capacity and tokens is not None:
        refill = getattr(limiter, "_refill", None)
        lock = getattr(limiter, "_lock", None)
        if refill is not None and lock is not None:
            with lock:
                refill(limiter.clock())
                tokens = limiter._tokens
        return min(max(1.0 - float(tokens) / float(capacity), 0.0), 1.0)
    return None


def connections_health(merchant: Any, live: dict | None = None) -> list[dict]:
    """Per connection: last success and failure, error rate of the last day's runs, breaker,
    backlog, open dead letters, API budget in use."""
    store = merchant.store
    runs = store.list_runs(merchant=merchant.name, limit=RECENT_RUNS)
    bound = flow_connections(merchant)
    backlog = store.event_backlog()
    letters = store.list_dead_letters(merchant=merchant.name)
    since = datetime.now(UTC) - timedelta(hours=ERROR_WINDOW_HOURS)
    opened = getattr(merchant, "_connections", {})
    rows = []
    for name in connection_names(merchant):
        flows = [flow for flow, conns in bound.items() if name in conns]
        mine = [run for run in runs if run["flow"] in flows]
        ok = [run for run in mine if run.get("status") == "ok" and run.get("finished_at")]
        failed = [run for run in mine if run.get("status") == "failed"]
        recent = [run for run in mine if (_parse(run.get("started_at")) or since) >= since]
        records = sum(sum(_counts(run).values()) for run in recent)
        errors = sum(_counts(run).get("dead_letter", 0) + _counts(run).get("failed", 0) for run in recent)
        state = (live or {}).get(name) or {}
        waiting = backlog.get(name) or {}
        last_failure = failed[0] if failed else None
        last_success = state.get("last_success") or (ok[0]["finished_at"] if ok else None)
        failing = bool(last_failure) and (last_success is None or (last_failure.get("finished_at") or "") > last_success)
        if state:
            failing = not state.get("ok", True)
        budget = budget_used(opened.get(name)) if name in opened else None
        rows.append({
            "name": name,
            "connector": (merchant.doc["connections"][name] or {}).get("connector"),
            "flows": flows,
            "ok": not failing,
            "last_success": last_success,
            "last_failure": state.get("last_failure") or (last_failure or {}).get("finished_at"),
            "last_error": redact(state.get("last_error") or ((last_failure or {}).get("summary") or {}).get("error") or ""),
            "runs_recent": len(recent),
            "runs_failed": sum(1 for run in recent if run.get("status") == "failed"),
            "records": records,
            "errors": errors,
            "error_rate": (errors / records) if records else None,
            "breaker": breaker_label(state["breaker"] if isinstance(state.get("breaker"), dict)
                                     else store.get_breaker(name)),
            "backlog": int(waiting.get("pending", 0)) + int(waiting.get("processing", 0)),
            "backlog_oldest": waiting.get("oldest"),
            "dead_letters": sum(1 for letter in letters if letter["flow"] in flows),
            "budget": budget,
            "last_event": state.get("last_event"),
        })
    return rows


# ---------------------------------------------------------------------------------- runs

RUN_STATUSES = ("running", "ok", "partial", "failed")


def runs(merchant: Any, flow: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
    rows = merchant.store.list_runs(merchant=merchant.name, flow=flow or None,
                                    limit=limit if not status else RECENT_RUNS * 5)
    out = []
    for row in rows:
        shown = row.get("status") or "running"
        if status and shown != status:
            continue
        out.append({**row, "status": shown, "counts": _counts(row),
                    "error": redact(str((row.get("summary") or {}).get("error") or ""))})
    return out[:limit]


def run_results(merchant: Any, run_id: str, status: str | None = None, query: str = "") -> list[dict]:
    rows = merchant.store.run_results(run_id, status=status or None)
    out = []
    for row in rows:
        detail = redact(row.get("detail") or {})
        label = str(detail.pop("label", "") or "")
        text = ", ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, default=str)}"
                         for k, v in detail.items() if v not in (None, "", [], {}))
        if query and query.lower() not in f"{row['key']} {label} {text}".lower():
            continue
        out.append({**row, "label": label, "detail_text": text})
    return out


# ------------------------------------------------------------------------- dead letters

_NUMBER = re.compile(r"\d+")


def _shape(text: str) -> str:
    """An error message with its numbers taken out: errors that differ only by a count, an index
    or an id are one cause."""
    return _NUMBER.sub("#", " ".join(str(text).split()))


def root_error(letter: dict) -> str:
    """What a person fixes: the failed rules or fields when there are some, else the deepest
    cause of the error chain, else its message."""
    error = letter.get("error") or {}
    field_errors = error.get("field_errors") or []
    if field_errors:
        parts = sorted({_shape(f"{fe.get('rule') or fe.get('field') or ''}: {fe.get('message', '')}")
                        for fe in field_errors if isinstance(fe, dict)})
        return "; ".join(parts)
    chain = error.get("chain") or []
    if len(chain) > 1:
        return _shape(chain[-1])
    kind = error.get("type") or ""
    return _shape(f"{kind}: {error.get('message', '')}" if kind else str(error.get("message", "")))


def dead_letter_view(letter: dict) -> dict:
    letter = redact(letter)
    error = letter.get("error") or {}
    payload = letter.get("payload")
    return {**letter, "label": letter_label(letter), "root": root_error(letter),
            "lines": error_lines(error, limit=50) if error.get("field_errors") else [],
            "message": str(error.get("message", "")), "chain": list(error.get("chain") or [])[1:],
            "skus": _skus(payload), "order_number": _order_number(payload),
            "payload_text": json.dumps(payload, indent=2, default=str, ensure_ascii=False)}


def _skus(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return []
    items = [i for k in ("variants", "skus", "line_items", "lines") if isinstance(payload.get(k), list)
             for i in payload[k] if isinstance(i, dict)]
    found = [str(s) for s in (i.get("sku") or i.get("seller_sku") for i in items) if s not in (None, "")]
    if not found and payload.get("sku") not in (None, ""):
        found = [str(payload["sku"])]
    return sorted(set(found))


def _order_number(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    for key in ("order_number", "order_id", "name"):
        value = payload.get(key)
        if isinstance(value, str | int) and str(value) and (key != "name" or str(value).startswith("#")):
            return str(value)
    return ""


def dead_letter_groups(merchant: Any, status: str = "open") -> list[dict]:
    """Open dead letters grouped by flow, step and root error; biggest group first."""
    groups: dict[str, dict] = {}
    for letter in merchant.store.list_dead_letters(merchant=merchant.name, status=status or None):
        view = dead_letter_view(letter)
        signature = f"{view['flow']}\x00{view['step']}\x00{view['root']}"
        key = hashlib.sha256(signature.encode()).hexdigest()[:12]
        group = groups.setdefault(key, {"key": key, "flow": view["flow"], "step": view["step"], "root": view["root"],
                                        "letters": []})
        group["letters"].append(view)
    out = sorted(groups.values(), key=lambda g: (-len(g["letters"]), g["flow"], g["root"]))
    for group in out:
        group["ids"] = [letter["id"] for letter in group["letters"]]
    return out


# ----------------------------------------------------------------------------- listings

def listings(merchant: Any, status: str | None = None) -> dict:
    connections = tracking_connections(merchant)
    rows = listing_rows(merchant.store, connections, {status.upper()} if status else None)
    for row in rows:
        row["reasons"] = REDACTOR.text(reasons_text(row["audit_failed_reasons"]))
        row["title"] = REDACTOR.text(str(row["title"] or ""))
        row["status"] = row["status"] or NOT_SEEN
    counts = Counter(row["status"] for row in rows)
    return {"connections": connections, "rows": rows, "counts": dict(sorted(counts.items()))}


# ------------------------------------------------------------------------------- orders

def orders(merchant: Any, limit: int = 500) -> list[dict]:
    """Orders imported into the store: the channel's order (number, status, totals as last synced),
    the store's order id, a stock hold while it waits, and an open dead letter."""
    store = merchant.store
    letters = {letter["key"]: letter for letter in store.list_dead_letters(merchant=merchant.name)
               if letter["entity"].startswith("order")}
    holds = {}
    for hold in store.reservations(status="held"):
        holds.setdefault(hold["order_key"], []).append(f"{hold['sku']} x{hold['quantity']}")
    rows: list[dict] = []
    seen: set[str] = set()
    for name in connection_names(merchant):
        for mapping in store.list_mappings("order", name):
            snapshot = store.get_snapshot("order", name, mapping["key"]) or {}
            money = snapshot.get("money") or {}
            total = money.get("total") if isinstance(money, dict) else None
            rows.append({
                "key": mapping["key"], "store": name, "store_id": mapping["remote_id"],
                "channel": snapshot.get("channel") or "", "number": snapshot.get("order_number") or mapping["key"],
                "status": snapshot.get("status") or "", "financial": snapshot.get("financial_status") or "",
                "fulfillment": snapshot.get("fulfillment_type") or "",
                "total": (total.get("amount") if isinstance(total, dict) else total) or "",
                "currency": snapshot.get("currency") or "",
                "updated_at": mapping.get("updated_at"),
                "hold": ", ".join(holds.get(mapping["key"], [])),
                "dead_letter": (letters.get(mapping["key"]) or {}).get("id"),
            })
            seen.add(mapping["key"])
    # Waiting on the channel side only: held for stock, or failed before reaching the store.
    for key, lines in holds.items():
        if key not in seen:
            rows.append({"key": key, "store": "", "store_id": "", "channel": "", "number": key, "status": "on hold",
                         "financial": "", "fulfillment": "", "total": "", "currency": "", "updated_at": None,
                         "hold": ", ".join(lines), "dead_letter": (letters.get(key) or {}).get("id")})
            seen.add(key)
    for key, letter in letters.items():
        if key not in seen:
            rows.append({"key": key, "store": "", "store_id": "", "channel": "", "number": key,
                         "status": "dead letter", "financial": "", "fulfillment": "", "total": "", "currency": "",
                         "updated_at": letter.get("updated_at"), "hold": "", "dead_letter": letter["id"]})
    rows.sort(key=lambda r: r.get("updated_at") or "", reverse=True)
    return redact(rows[:limit])


# -------------------------------------------------------------------------------- stock

def stock(merchant: Any, limit: int = 500) -> list[dict]:
    """Per SKU: what was last offered on each channel (its warehouses), the store's units it was
    computed from (on hand at the locations feeding the channel, as of that write), and the units
    held for the channel's orders the store has not taken yet."""
    store = merchant.store
    held = store.reserved_stock()
    rows: dict[str, dict] = {}
    for name in connection_names(merchant):
        for mapping in store.list_mappings("sku", name):
            offered = store.get_stock(name, mapping["key"])
            if offered is None:
                continue
            row = rows.setdefault(mapping["key"], {"sku": mapping["key"], "channels": {}, "held": 0})
            row["channels"][name] = {"salable": offered.get("salable"), "warehouses": offered.get("warehouses") or {},
                                     "at": offered.get("at"), "on_hand": offered.get("on_hand")}
            if offered.get("on_hand") is not None:  # the store's units at the locations feeding this channel
                row["store"] = max(int(offered["on_hand"]), int(row.get("store") or 0))
    for sku, units in held.items():
        rows.setdefault(sku, {"sku": sku, "channels": {}, "held": 0})["held"] = units
    return [rows[sku] for sku in sorted(rows)][:limit]


def throughput(merchant: Any, hours: int = 24) -> dict[str, list[dict]]:
    """Per connection, per hour of the last `hours`: records processed and records that failed."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=hours - 1)
    bound = flow_connections(merchant)
    series = {name: [{"at": start + timedelta(hours=i), "records": 0, "errors": 0} for i in range(hours)]
              for name in connection_names(merchant)}
    for run in merchant.store.list_runs(merchant=merchant.name, limit=RECENT_RUNS * 5):
        when = _parse(run.get("started_at"))
        if when is None or when < start:
            continue
        slot = int((when - start).total_seconds() // 3600)
        counts = _counts(run)
        errors = counts.get("dead_letter", 0) + counts.get("failed", 0)
        for name in bound.get(run["flow"], []):
            if name in series and 0 <= slot < hours:
                series[name][slot]["records"] += sum(counts.values())
                series[name][slot]["errors"] += errors
    return series


def audit(store: Any, merchant: str, limit: int = 200) -> list[dict]:
    return redact(store.list_audit_entries(merchant=merchant, limit=limit))
