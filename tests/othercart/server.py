"""A deliberately different product API, to prove the shipped flows are platform-neutral.

Unlike Shopify it pages by offset with a total count, nests products under `data.items`, names
things differently (`code`, `name`, `skus[].code`), keeps money as integer cents with a currency
per catalog, and wants an API key header. It serves only what a catalog source needs.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY = "oc-test-key"


def catalog(count: int = 12, image_host: str = "https://cdn.othercart.test") -> list[dict]:
    products = []
    for n in range(1, count + 1):
        products.append({
            "code": f"OC-{n:04d}",
            "name": f"Othercart Field Jacket number {n}",
            "summary": f"<p>Jacket {n}: waxed cotton, two pockets.</p>",
            "maker": "Othercart Supply",
            "group": "Hoodies",
            "weight_grams": 850 + n,
            "pictures": [{"href": f"{image_host}/p{n}/{i}.jpg", "rank": i} for i in (1, 2)],
            "skus": [{"code": f"OC-{n:04d}-{size}", "size": size, "price_cents": 4900 + 100 * n + i,
                      "list_cents": None, "stock": 10 + i}
                     for i, size in enumerate(("S", "M", "L"))],
        })
    return products


def create_app(products: list[dict], requests: list[dict]) -> Starlette:
    async def list_products(request: Request) -> JSONResponse:
        requests.append({"path": request.url.path, "query": dict(request.query_params)})
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        start = int(request.query_params.get("start", 0))
        size = min(int(request.query_params.get("count", 5)), 5)  # small pages: paging must work
        return JSONResponse({"data": {"items": products[start:start + size], "total": len(products)}})

    return Starlette(routes=[Route("/v1/catalog/products", list_products)])
