"""Step kinds of the flow vocabulary (declared in engine/flow/registry.py's STEPS)."""
