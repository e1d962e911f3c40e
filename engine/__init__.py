"""First-Party Connector: a small interpreter for declarative commerce sync specs."""

__version__ = "0.1.0"
