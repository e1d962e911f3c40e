"""Helpers of the HTTP runtime tests: a fake clock, a scripted MockTransport, the shipped specs.

A uniquely named module (not conftest) so `from http_helpers import ...` can never pick up
another directory's conftest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """Wall clock, monotonic clock and sleep in one; sleeping advances time and is recorded."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class Script:
    """A MockTransport handler answering from a list (or a function) and recording requests."""

    def __init__(self, answers: list | Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.answers = answers if answers is not None else []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if callable(self.answers):
            return self.answers(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def ok(data: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "message": "Success", "request_id": "rq1", "data": data},
                          headers=headers)


def tt_error(code: int, message: str = "err", status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "request_id": "rq2", "data": None},
                          headers=headers)


def load_spec(name: str) -> dict:
    return yaml.safe_load((ROOT / "connectors" / f"{name}.yaml").read_text())


def body_json(request: httpx.Request) -> object:
    return json.loads(request.content) if request.content else None


TT_CREDS = {"app_key": "appkey123", "app_secret": "secretsecret", "access_token": "AT-initial-0001",
            "refresh_token": "RT-initial-0001"}
TT_SETTINGS = {"shop_cipher": "ROW_cipher1", "region": "US"}
