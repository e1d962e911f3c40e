"""The step vocabulary. Each kind is declared once: its options schema (used by `connector
validate` and the docs) and its class. Steps compile their expressions when the flow is built.

A catalog flow reads like: pull -> map -> (filter) -> validate -> (price) -> check -> match -> diff ->
(upload_images) -> map -> push, with `track` for status read-back; filter selects the records it
syncs and price sets the channel's prices from price rules. An order flow adds reserve (stock of orders on
hold), decide (skip, create, cancel...), resolve_skus, link and ensure (ids of related records).
"""

# Importing the modules registers their step kinds in STEPS.
from engine.flow.steps import (  # noqa: F401
    compare,
    decide,
    fetch,
    filter,
    images,
    leave_stock,
    price,
    push,
    read,
    related,
    reserve,
    stock,
    track,
    transform,
)
from engine.flow.steps.base import Step
from engine.flow.steps.read import Pull

__all__ = ["Pull", "Step"]
