"""A stand-in for a store's image CDN: every path serves a small deterministic PNG.

The catalog flow fetches product images and uploads them to TikTok, as it would from Shopify's
CDN; in the sandbox there is no internet, so the seeded products point here instead.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def png_bytes(seed: str, size: int = 600) -> bytes:
    """A valid size x size RGB PNG whose colour depends on `seed`."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes((r, g, b)) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def _image(request: Request) -> Response:
    if request.query_params.get("missing"):
        return Response(status_code=404)
    return Response(png_bytes(request.url.path), media_type="image/png")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", _image)])
