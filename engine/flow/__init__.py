"""Flows: a trigger and steps from a fixed vocabulary, run record by record."""
