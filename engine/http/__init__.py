"""HTTP connector runtime: compile a connector spec once, then call its operations.

    compiled = compile_connector(spec)            # no network; raises SpecError with field paths
    conn = Connection(compiled, settings=..., credentials=..., token_store=...)
    conn.call("get_product", path_params={"product_id": "1"}).record
    for order in conn.records("search_orders", body={"order_status": "AWAITING_SHIPMENT"}): ...
"""

from engine.http.auth import AUTH_KINDS, MemoryTokenStore, TokenStore
from engine.http.client import Connection, ItemError, ItemResult, Page, Response
from engine.http.compile import CompiledConnector, CompiledOperation, compile_connector
from engine.http.errors import (
    AuthError,
    HttpCallError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationFailedError,
)
from engine.http.paginate import PAGINATORS
from engine.http.ratelimit import RATE_LIMITS

__all__ = [
    "AUTH_KINDS",
    "PAGINATORS",
    "RATE_LIMITS",
    "AuthError",
    "CompiledConnector",
    "CompiledOperation",
    "Connection",
    "HttpCallError",
    "ItemError",
    "ItemResult",
    "MemoryTokenStore",
    "NotFoundError",
    "Page",
    "PaginationError",
    "RateLimitedError",
    "Response",
    "ServerError",
    "TokenStore",
    "TransportError",
    "ValidationFailedError",
    "compile_connector",
]

# The platform modules register their kinds (auth, ...) in the registries above.
import engine.platforms  # noqa: E402,F401
