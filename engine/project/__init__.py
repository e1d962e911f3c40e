"""A consultant's project: files loaded with positions, merchant overrides, secrets references,
schemas, validation and the test runner."""
