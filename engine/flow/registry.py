"""The step vocabulary. Each step kind is declared once, with its options schema; the flow
loader, `connector validate` and the docs all read that one declaration."""

from __future__ import annotations

from engine.registry import Registry

STEPS = Registry("step")
