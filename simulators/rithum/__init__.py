"""Rithum (ChannelAdvisor) REST API simulator: `create_app()` builds the Starlette app."""

from .app import DEFAULT_CREDENTIALS, create_app

__all__ = ["DEFAULT_CREDENTIALS", "create_app"]
