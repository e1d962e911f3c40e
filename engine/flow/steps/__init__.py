"""The step vocabulary. Each kind is declared once: its options schema (used by `connector
validate` and the docs) and its class. Steps compile their expressions when the flow is built.

A catalog flow reads like: pull -> map -> validate -> check -> match -> diff -> (upload_images) ->
map -> push, with `track` for status read-back. An order flow adds reserve (stock of orders on
hold), decide (skip, create, cancel...), resolve_skus, link and ensure (ids of related records).
"""

# Importing the modules registers their step kinds in STEPS.
from engine.flow.steps import (  # noqa: F401
    compare,
    decide,
    fetch,
    images,
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
