"""The step vocabulary. Each kind is declared once: its options schema (used by `connector
validate` and the docs) and its class. Steps compile their expressions when the flow is built.

A flow reads like: pull -> map -> validate -> check -> match -> diff -> (upload_images) -> map ->
push, with `track` for status read-back and `acknowledge` for inbound events.
"""

# Importing the modules registers their step kinds in STEPS.
from engine.flow.steps import compare, fetch, images, push, read, track, transform  # noqa: F401
from engine.flow.steps.base import Step
from engine.flow.steps.read import Pull

__all__ = ["Pull", "Step"]
