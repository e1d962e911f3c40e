"""Shopify's REST error envelope, raised from anywhere and rendered once by the app."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: HTTP status plus the value of the `errors` key."""

    def __init__(self, status: int, errors: object) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(field: str, *messages: str) -> ApiError:
    """422 with the object shape {field: [messages]} (the object shape itself is UNCONFIRMED)."""
    return ApiError(422, {field: list(messages)})


def missing_root(root: str) -> ApiError:
    """What Shopify answers when the body lacks its resource key (e.g. `{"product": ...}`)."""
    return ApiError(400, {root: "Required parameter missing or invalid"})


def bad_param(name: str, message: str = "Invalid value.") -> ApiError:
    return ApiError(400, {name: message})
