"""Image and file uploads: multipart/form-data parsed with the stdlib email parser.

python-multipart is not a dependency, and these bodies are small, so the `email` package's MIME
parser does the job.
"""

from __future__ import annotations

import struct
from email.parser import BytesParser
from email.policy import HTTP

from .errors import (
    FILE_TOO_LARGE,
    IMAGE_DIMENSIONS,
    IMAGE_TOO_LARGE,
    INVALID_IMAGE,
    INVALID_PARAM,
    NEED_MULTIPART,
    ApiError,
)
from .routing import Ctx

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024  # videos may be up to 20 MB (1.13)
IMAGE_USE_CASES = {"MAIN_IMAGE", "ATTRIBUTE_IMAGE", "DESCRIPTION_IMAGE", "CERTIFICATION_IMAGE",
                   "SIZE_CHART_IMAGE"}
# When the bytes are not a PNG or JPEG we can measure, assume a typical main image.
FALLBACK_SIZE = (1000, 1000)
IMAGE_HOST = "https://p16-oec-va.ibyteimg.com"


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """field name -> (filename, bytes)."""
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise ApiError(NEED_MULTIPART, "Content-Type must be multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        raise ApiError(INVALID_PARAM, "Invalid params: malformed multipart body")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def image_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):  # start of frame: height then width
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return width, height
            i += 2 + length
    return None


def upload_image(ctx: Ctx) -> dict:
    fields = parse_multipart(ctx.content_type, ctx.raw)
    filename, data = fields.get("data", (None, b""))
    if not data:
        raise ApiError(INVALID_IMAGE, "Invalid image: the data field is missing or empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(IMAGE_TOO_LARGE, "Image file is larger than 5MB")
    use_case = fields.get("use_case", (None, b"MAIN_IMAGE"))[1].decode() or "MAIN_IMAGE"
    if use_case not in IMAGE_USE_CASES:
        raise ApiError(INVALID_PARAM, f"Invalid params: unknown use_case {use_case!r}")
    width, height = image_size(data) or FALLBACK_SIZE
    if not (100 <= width <= 20000 and 100 <= height <= 20000):
        raise ApiError(IMAGE_DIMENSIONS, "Image dimensions must be between 100x100 and 20000x20000")
    uri = f"tos-maliva-i-o3syd03w52-us/{ctx.sim.ids.hex(32)}"
    image = {"uri": uri, "url": f"{IMAGE_HOST}/{uri}~tplv-o3syd03w52-origin-jpeg.jpeg",
             "width": width, "height": height, "use_case": use_case}
    ctx.sim.images[uri] = dict(image, filename=filename, size=len(data))
    return image


def upload_file(ctx: Ctx) -> dict:
    fields = parse_multipart(ctx.content_type, ctx.raw)
    filename, data = fields.get("data", (None, b""))
    if not data:
        raise ApiError(INVALID_PARAM, "Invalid params: the data field is missing or empty")
    if len(data) > MAX_FILE_BYTES:
        raise ApiError(FILE_TOO_LARGE, "File too large")
    name = fields.get("name", (None, b""))[1].decode() or filename or "file"
    fmt = name.rsplit(".", 1)[-1].upper() if "." in name else "PDF"
    file_id = ctx.sim.ids.new("file")
    record = {"id": file_id, "url": f"{IMAGE_HOST}/files/{file_id}", "name": name, "format": fmt}
    ctx.sim.files[file_id] = dict(record, size=len(data))
    return record


ROUTES = [
    ("POST", "/product/{v}/images/upload", upload_image),
    ("POST", "/product/{v}/files/upload", upload_file),
]
