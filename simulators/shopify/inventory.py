"""Locations and inventory levels (sections 2.2 and 2.10): per item and location `available` stock."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import ApiError, invalid, missing_root, not_found
from .http import body_json, id_list, sim
from .paging import paginate, parse_list, project
from .state import ShopState
from .values import JSONResponse, as_int, epoch, gid, parse_time
from .webhooks import emit


def level_gid(item_id: int, location_id: int) -> str:
    return f"{gid('InventoryLevel', location_id)}?inventory_item_id={item_id}"


class LevelIndex:
    """The location ids each inventory item is stocked at, kept beside `state.db.levels` so that
    rendering a variant reads its own levels instead of scanning every level in the shop (which
    made listing and seeding quadratic in the catalog size).

    `connect`, `forget` and the routes here keep it current; a change to the levels made anywhere
    else changes their number or the dict itself, and the index is then rebuilt on next use.
    """

    def __init__(self, levels: dict[tuple[int, int], dict]) -> None:
        self.levels = levels
        self.by_item: dict[int, dict[int, None]] = {}  # item id -> location ids, in insertion order
        for item_id, location_id in levels:
            self.by_item.setdefault(item_id, {})[location_id] = None
        self.count = len(levels)

    @staticmethod
    def of(state: ShopState) -> LevelIndex:
        index = getattr(state, "_level_index", None)
        if index is None or index.levels is not state.db.levels or index.count != len(state.db.levels):
            index = LevelIndex(state.db.levels)
            state._level_index = index  # type: ignore[attr-defined]
        return index

    def added(self, item_id: int, location_id: int) -> None:
        self.by_item.setdefault(item_id, {})[location_id] = None
        self.count = len(self.levels)

    def removed(self, item_id: int, location_id: int) -> None:
        self.by_item.get(item_id, {}).pop(location_id, None)
        self.count = len(self.levels)


def levels_of(state: ShopState, item_id: int) -> list[dict]:
    levels = state.db.levels
    return [levels[(item_id, lid)] for lid in LevelIndex.of(state).by_item.get(item_id, ())]


def total_available(state: ShopState, item_id: int) -> int:
    return sum(lvl["available"] for lvl in levels_of(state, item_id))


def connected_locations(state: ShopState, item_id: int) -> list[int]:
    stocked = LevelIndex.of(state).by_item.get(item_id, {})
    return [lid for lid in state.db.locations if lid in stocked]


def forget(state: ShopState, item_id: int) -> None:
    """Drop every level of an inventory item (its variant was deleted)."""
    index = LevelIndex.of(state)
    for location_id in list(index.by_item.get(item_id, ())):
        del state.db.levels[(item_id, location_id)]
        index.removed(item_id, location_id)


def connect(state: ShopState, item_id: int, location_id: int, available: int = 0) -> tuple[dict, bool]:
    key = (item_id, location_id)
    if key in state.db.levels:
        return state.db.levels[key], False
    level = {
        "inventory_item_id": item_id,
        "location_id": location_id,
        "available": available,
        "updated_at": state.now(),
        "admin_graphql_api_id": level_gid(item_id, location_id),
    }
    index = LevelIndex.of(state)
    state.db.levels[key] = level
    index.added(item_id, location_id)
    emit(state, "inventory_levels/connect", dict(level))
    return level, True


def _write(state: ShopState, level: dict, available: int) -> dict:
    level["available"] = available
    level["updated_at"] = state.now()
    item = state.db.inventory_items.get(level["inventory_item_id"])
    if item:
        item["updated_at"] = level["updated_at"]
    emit(state, "inventory_levels/update", dict(level))
    return level


def change_stock(state: ShopState, item_id: int, location_id: int, delta: int) -> None:
    """Stock moved by orders, cancellations and refunds; untracked items are left alone."""
    item = state.db.inventory_items.get(item_id)
    if not item or not item["tracked"] or delta == 0:
        return
    level, _ = connect(state, item_id, location_id)
    _write(state, level, level["available"] + delta)


def _target(state: ShopState, data: dict) -> tuple[dict, int]:
    if "inventory_item_id" not in data:
        raise missing_root("inventory_item_id")
    if "location_id" not in data:
        raise missing_root("location_id")
    item = state.db.inventory_items.get(as_int(data["inventory_item_id"], "inventory_item_id"))
    if item is None:
        raise invalid("inventory_item_id", "is invalid")
    location_id = as_int(data["location_id"], "location_id")
    if location_id not in state.db.locations:
        raise invalid("location_id", "is invalid")
    if not item["tracked"]:
        raise ApiError(422, ["Inventory item does not have inventory tracking enabled"])
    return item, location_id


def _connected_or_connect(state: ShopState, item_id: int, location_id: int, force: bool) -> dict:
    level = state.db.levels.get((item_id, location_id))
    if level is not None:
        return level
    if state.settings.set_requires_connection and not force:
        # Message wording is UNCONFIRMED; the rule is from 2.10.
        raise ApiError(422, ["Inventory item is not stocked at the location. Connect it first."])
    return connect(state, item_id, location_id)[0]


async def set_level(request: Request) -> Response:
    state = sim(request)
    data = await body_json(request)
    if not isinstance(data, dict):
        raise missing_root("inventory_item_id")
    item, location_id = _target(state, data)
    if "available" not in data or data["available"] is None:
        raise missing_root("available")
    available = as_int(data["available"], "available")
    level = _connected_or_connect(state, item["id"], location_id, bool(data.get("disconnect_if_necessary")))
    return JSONResponse({"inventory_level": dict(_write(state, level, available))})


async def adjust_level(request: Request) -> Response:
    state = sim(request)
    data = await body_json(request)
    if not isinstance(data, dict):
        raise missing_root("inventory_item_id")
    item, location_id = _target(state, data)
    if "available_adjustment" not in data:
        raise missing_root("available_adjustment")
    delta = as_int(data["available_adjustment"], "available_adjustment")
    level = _connected_or_connect(state, item["id"], location_id, False)
    return JSONResponse({"inventory_level": dict(_write(state, level, level["available"] + delta))})


async def connect_level(request: Request) -> Response:
    state = sim(request)
    data = await body_json(request)
    if not isinstance(data, dict):
        raise missing_root("inventory_item_id")
    item, location_id = _target(state, data)
    level, created = connect(state, item["id"], location_id)
    return JSONResponse({"inventory_level": dict(level)}, status_code=201)


async def delete_level(request: Request) -> Response:
    state = sim(request)
    query = request.query_params
    item_id = as_int(query.get("inventory_item_id"), "inventory_item_id")
    location_id = as_int(query.get("location_id"), "location_id")
    level = state.db.levels.get((item_id, location_id))
    if level is None:
        raise not_found()
    if len(connected_locations(state, item_id)) <= 1:
        name = state.db.locations[location_id]["name"]
        raise ApiError(
            422,
            [
                f"The product couldn't be unstocked from {name} because products need to be "
                "stocked at a minimum of 1 location."
            ],
        )
    index = LevelIndex.of(state)
    del state.db.levels[(item_id, location_id)]
    index.removed(item_id, location_id)
    emit(state, "inventory_levels/disconnect", {"inventory_item_id": item_id, "location_id": location_id})
    return Response(status_code=204)


def _list_levels(request: Request, items: set[int] | None, locations: set[int] | None) -> Response:
    state = sim(request)
    q = parse_list(request)
    levels = [
        lvl
        for (iid, lid), lvl in state.db.levels.items()
        if (items is None or iid in items) and (locations is None or lid in locations)
    ]
    if q.get("updated_at_min"):
        floor = parse_time(q.get("updated_at_min") or "", "updated_at_min").timestamp()
        levels = [lvl for lvl in levels if epoch(lvl["updated_at"]) >= floor]
    page, headers = paginate(
        request, q, levels, key=lambda lvl: [lvl["location_id"], lvl["inventory_item_id"]]
    )
    return JSONResponse({"inventory_levels": [project(dict(lvl), q.fields) for lvl in page]}, headers=headers)


async def list_levels(request: Request) -> Response:
    q = parse_list(request)
    items = id_list(q.get("inventory_item_ids"))
    locations = id_list(q.get("location_ids"))
    if items is None and locations is None:
        raise ApiError(422, {"base": ["inventory_item_ids or location_ids is required"]})
    return _list_levels(request, items, locations)


async def location_levels(request: Request) -> Response:
    if request.path_params["id"] not in sim(request).db.locations:
        raise not_found()
    return _list_levels(request, None, {request.path_params["id"]})


async def list_locations(request: Request) -> Response:
    # locations.json is not paginated: every location comes back at once.
    return JSONResponse({"locations": list(sim(request).db.locations.values())})


async def count_locations(request: Request) -> Response:
    return JSONResponse({"count": len(sim(request).db.locations)})


async def get_location(request: Request) -> Response:
    location = sim(request).db.locations.get(request.path_params["id"])
    if location is None:
        raise not_found()
    return JSONResponse({"location": location})


ROUTES = [
    Route("/inventory_levels.json", list_levels, methods=["GET"]),
    Route("/inventory_levels.json", delete_level, methods=["DELETE"]),
    Route("/inventory_levels/set.json", set_level, methods=["POST"]),
    Route("/inventory_levels/adjust.json", adjust_level, methods=["POST"]),
    Route("/inventory_levels/connect.json", connect_level, methods=["POST"]),
    Route("/locations.json", list_locations, methods=["GET"]),
    Route("/locations/count.json", count_locations, methods=["GET"]),
    Route("/locations/{id:int}.json", get_location, methods=["GET"]),
    Route("/locations/{id:int}/inventory_levels.json", location_levels, methods=["GET"]),
]
