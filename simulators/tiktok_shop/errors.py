"""Error codes, their HTTP statuses, and the response envelope every TikTok Shop answer uses."""

from __future__ import annotations

import json

from starlette.responses import Response

# Codes documented in the platform reference (1.6).
OK = 0
RATE_LIMITED = 36009002
INTERNAL = 36009003
INVALID_PARAM = 36009004  # overloaded: sign missing, timestamp, token, app_key, shop_cipher, params
INVALID_PATH = 36009009
INVALID_METHOD = 36009010
INVALID_VERSION = 36009014
FILE_TOO_LARGE = 36009021
BAD_CONTENT_TYPE = 36009022
NEED_MULTIPART = 36009023
TOKEN_EXPIRED = 105002
BAD_SIGN = 106001
SHOP_CIPHER_REQUIRED = 106013
INVALID_AUTH_CODE = 36004004
REFRESH_TOKEN_EXPIRED = 36004001
NO_AUTH_RECORD = 36004005
SEARCH_TOO_DEEP = 12052180
BATCH_CHECK_FAILED = 12052990
PRODUCT_NOT_FOUND = 12052048
SKU_NEEDS_WAREHOUSE = 12019022
TOO_MANY_SKUS = 12052050
TITLE_LENGTH = 12052051
DESCRIPTION_TOO_LONG = 12052013
SELLER_SKU_TOO_LONG = 12052054
CATEGORY_NOT_LEAF = 12052024
CATEGORY_VERSION_V2 = 12052217
TITLE_FORMAT = 12052931
IMAGE_TOO_LARGE = 12038005
IMAGE_DIMENSIONS = 12038014
BAD_WEIGHT = 12052181
ORDER_NOT_OWNED = 21008111

# UNCONFIRMED: the reference lists no code for these rules. The numbers below sit in the same
# families as their documented neighbours so a connector classifies them alike (product-side
# 12052xxx / 12019xxx, order-side 21008xxx / 25xxxxxx for after-sales).
REQUIRED_ATTRIBUTE_MISSING = 12052036
INVALID_PRICE = 12052230
MAIN_IMAGE_COUNT = 12052007
IMAGE_NOT_UPLOADED = 12052008
CATEGORY_NOT_FOUND = 12052025
PACKAGE_UNITS = 12052182
PACKAGE_DIMENSIONS_REQUIRED = 12052183
DUPLICATE_SELLER_SKU = 12052042
SKU_NOT_FOUND = 12019034
BAD_QUANTITY = 12019030
INVALID_STATUS_CHANGE = 12052201
INVALID_IMAGE = 12038002
ORDER_STATUS_NOT_ALLOWED = 21008012
PACKAGE_NOT_FOUND = 21008113
SHIPPING_PROVIDER_INVALID = 21008050
# A seller ship/tracking/deliver call on an order TikTok fulfils (FULFILLMENT_BY_TIKTOK).
FBT_ORDER = 21008022
CANCEL_NOT_FOUND = 25001001
CANCEL_NOT_ALLOWED = 25001002
RETURN_NOT_FOUND = 25002001
RETURN_NOT_ALLOWED = 25002002
BRAND_EXISTS = 12052302
WEBHOOK_INVALID = 36009004

# HTTP status per code. TikTok sets the status independently of `code` and answers business
# errors with HTTP 200 (1.5). Documented: 401 for 106001, 400 for a bad app_key, 404 for a bad
# path, 429 for rate limits, 503 for overload. UNCONFIRMED: 401 for token problems, 405 for a bad
# method; change this table (it is read per response) if a capture shows otherwise.
HTTP_STATUS = {
    BAD_SIGN: 401,
    TOKEN_EXPIRED: 401,
    INVALID_PATH: 404,
    INVALID_METHOD: 405,
    INVALID_VERSION: 404,
    RATE_LIMITED: 429,
    INTERNAL: 503,
}


class ApiError(Exception):
    """Raised by handlers and checks; rendered as an envelope with `data: null`."""

    def __init__(self, code: int, message: str, http_status: int | None = None, data: object = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else HTTP_STATUS.get(code, 200)
        self.data = data
        self.headers = headers or {}


def envelope(code: int, message: str, request_id: str, data: object = None, status: int = 200,
             headers: dict | None = None) -> Response:
    body = json.dumps({"code": code, "message": message, "request_id": request_id, "data": data},
                      separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(err: ApiError, request_id: str) -> Response:
    return envelope(err.code, err.message, request_id, err.data, err.http_status, err.headers)
