"""Simulator of Salesforce's core REST API with Order Management (and Service Cloud's objects)."""

from .app import DEFAULT_CREDENTIALS, create_app

__all__ = ["DEFAULT_CREDENTIALS", "create_app"]
