"""A platform-neutral flow made concrete for one merchant: each step that names a role and an
entity takes its operations, mappings, channel rules and writes from the connector bound to that
role (its `entities:` block). Validate and run both build their steps from this one resolution, so
what validate checked is exactly what runs.

Resolved values are the connector file's own nodes, so a problem in them points at the connector
file's line, and a problem in what the flow wrote points at the flow's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import Problem, did_you_mean
from engine.project.yamlpos import YDict, YList, copy_entry, problem_at

WRITE_ACTIONS = ("create", "update", "price_update", "inventory_update")


@dataclass(frozen=True)
class ResolvedStep:
    kind: str
    options: YDict


def entity_declaration(connector: Any, entity: str) -> Any:
    return ((connector or {}).get("entities") or {}).get(entity) if connector is not None else None


def capabilities(connector: Any) -> dict[str, Any]:
    """What a connector can do, derived from its entity declarations (plus the pull/push lists of
    older files that declare no entities)."""
    declared = dict(connector.get("capabilities") or {})
    entities = connector.get("entities") or {}
    pull = set(declared.get("pull") or []) | {name for name, e in entities.items() if e.get("reads")}
    push = set(declared.get("push") or []) | {name for name, e in entities.items()
                                              if e.get("writes") or e.get("embedded")}
    regions = declared.get("product_push_regions")
    if "product" in entities and entities["product"].get("push_regions"):
        regions = entities["product"]["push_regions"]
    return {**declared, "pull": sorted(pull), "push": sorted(push), "product_push_regions": regions}


def _problem(node: Any, key: str, message: str, hint: str = "") -> Problem:
    return problem_at(node, [key], message, hint)


def _copy(node: Any) -> YDict:
    out = YDict(loc=getattr(node, "loc", None), path=getattr(node, "path", ()))
    for key in node:
        copy_entry(out, node, key)
    return out


def _extend(out: YList, items: Any) -> None:
    locs = getattr(items, "item_locs", None) or [getattr(item, "loc", None) for item in items]
    out.extend(items)
    out.item_locs.extend(locs)


class FlowResolver:
    """Resolve a flow's steps against role -> connector document (None: unbound, left as written)."""

    # Step kinds resolved even without entity: (their options may come from the binding's flow options).
    BOUND_KINDS = ("filter", "price")

    def __init__(self, flow: Any, connectors: dict[str, Any], project: Any, connector_names: dict[str, str],
                 options: Any = None) -> None:
        self.flow = flow
        self.connectors = connectors
        self.project = project
        self.names = connector_names  # role -> connector name, for messages
        self.options = options  # the binding's flow options (None: the flow is resolved without a binding)
        self.problems: list[Problem] = []

    def steps(self) -> list[ResolvedStep]:
        out: list[ResolvedStep] = []
        for raw in self.flow.get("steps") or []:
            kind, options = next(iter(raw.items()))
            options = options if isinstance(options, dict) else YDict()
            handler = getattr(self, f"_{kind}", None)
            if handler is None or ("entity" not in options and kind not in self.BOUND_KINDS):
                out.append(ResolvedStep(kind, options))
                continue
            before = len(self.problems)
            resolved = handler(options)
            if len(self.problems) == before:  # a step that could not be resolved is reported once, here
                out.extend(resolved)
        return out

    # -- helpers

    def _declaration(self, options: YDict, role_key: str) -> Any:
        role = options.get(role_key)
        connector = self.connectors.get(role) if role else None
        if connector is None:
            return None
        entity = options["entity"]
        found = entity_declaration(connector, entity)
        if found is None:
            self.problems.append(_problem(options, "entity",
                                          f"connector {self.names.get(role)!r} (role {role!r}) declares no entity "
                                          f"{entity!r}",
                                          "declare it under the connector's entities:, or bind the role to a "
                                          "connector that serves it"))
        return found

    def _bind(self, out: YDict, key: str) -> bool:
        """A step option written `{option: NAME}` takes the binding's value of flow option NAME
        (keeping its place in the merchant file), else the flow's default for it; with neither, the
        step option is left out. False when the option is neither set nor defaulted."""
        ref = out.get(key)
        if self.options is None or not is_option_ref(ref):
            return True
        name = ref["option"]
        if name in self.options:
            copy_entry(out, self.options, name, as_key=key)
            return True
        declared = (self.flow.get("options") or {}).get(name)
        if isinstance(declared, dict) and "default" in declared:
            copy_entry(out, declared, "default", as_key=key)
            return True
        del out[key]
        return False

    # -- step kinds that take their concrete options from the connector

    def _pull(self, options: YDict) -> list[ResolvedStep]:
        if "operation" in options:
            return [ResolvedStep("pull", options)]
        decl = self._declaration(options, "from")
        if decl is None:
            return [ResolvedStep("pull", options)]
        reads = decl.get("reads") or {}
        name = options.get("read", "all")
        read = reads.get(name)
        if read is None:
            self.problems.append(_problem(options, "read" if "read" in options else "entity",
                                          f"connector {self.names.get(options['from'])!r} has no read {name!r} for "
                                          f"{options['entity']}",
                                          did_you_mean(name, list(reads))))
            return [ResolvedStep("pull", options)]
        out = _copy(options)
        for key in ("operation", "query", "body", "detail", "events", "items"):
            if key in read and key not in options:
                copy_entry(out, read, key)
        if "scope" in read and "scope_param" not in options:
            copy_entry(out, read, "scope", as_key="scope_param")
        if "key" in decl and "key" not in options:
            copy_entry(out, decl, "key")
        if "events" in out and "get" in decl and "get" not in options:
            copy_entry(out, decl, "get")
        if "since" in options:
            since = _copy(read.get("changed_since") or YDict())
            for key in options["since"]:
                copy_entry(since, options["since"], key)
            since.loc, since.path = options["since"].loc, options["since"].path
            out["since"] = since
        return [ResolvedStep("pull", out)]

    def _map(self, options: YDict) -> list[ResolvedStep]:
        if "mapping" in options:
            return [ResolvedStep("map", options)]
        role_key = "from" if "from" in options else "to"
        decl = self._declaration(options, role_key)
        if decl is None:
            return [ResolvedStep("map", options)]
        side = "to_canonical" if role_key == "from" else "from_canonical"
        out = _copy(options)
        if side in decl:
            copy_entry(out, decl, side, as_key="mapping")
        else:
            self.problems.append(_problem(options, role_key,
                                          f"connector {self.names.get(options[role_key])!r} declares no {side} "
                                          f"mapping for {options['entity']}",
                                          f"add entities.{options['entity']}.{side}: <mapping name>"))
        if "market" not in out:
            out["market"] = options[role_key]
        return [ResolvedStep("map", out)]

    def _check(self, options: YDict) -> list[ResolvedStep]:
        decl = self._declaration(options, "on")
        channel = None
        if decl is not None and decl.get("rules"):
            found = self.project.get("rules", decl["rules"])
            if found is None:
                self.problems.append(_problem(decl, "rules", f"unknown rules {decl['rules']!r}",
                                              "known: " + (", ".join(self.project.names("rules")) or "none")))
            else:
                channel = found.doc
        out = _copy(options)
        steps: list[ResolvedStep] = []
        rules = YList(loc=getattr(options.get("rules"), "loc", None))
        if channel is not None:
            for fetch in channel.get("fetch") or []:
                fetched = _copy(fetch)
                fetched["from"] = options["on"]
                steps.append(ResolvedStep("fetch", fetched))
            _extend(rules, channel.get("rules") or [])
        _extend(rules, options.get("rules") or [])
        if not rules:
            return steps  # nothing this channel or this flow asks
        out["rules"] = rules
        if "market" not in out:
            out["market"] = options["on"]
        return [*steps, ResolvedStep("check", out)]

    def _fetch(self, options: YDict) -> list[ResolvedStep]:
        if "operation" in options:
            return [ResolvedStep("fetch", options)]
        decl = self._declaration(options, "from")
        if decl is None:
            return [ResolvedStep("fetch", options)]
        get = decl.get("get")
        if not get:
            self.problems.append(_problem(options, "entity", f"connector {self.names.get(options['from'])!r} "
                                                             f"declares no way to read one {options['entity']}",
                                          f"add entities.{options['entity']}.get: {{operation, param}}"))
            return [ResolvedStep("fetch", options)]
        out = _copy(options)
        copy_entry(out, get, "operation")
        params = YDict(loc=getattr(options, "loc", None), path=getattr(options, "path", ()))
        params[get["param"]] = options["id"]
        out["query" if get.get("in") == "query" else "path_params"] = params
        out.pop("entity", None)
        out.pop("id", None)
        if "result" in get and "result" not in options:
            copy_entry(out, get, "result")
        if options.get("canonical") and "mapping" not in options:
            if "to_canonical" in decl:
                copy_entry(out, decl, "to_canonical", as_key="mapping")
            else:
                self.problems.append(_problem(options, "canonical", f"connector "
                                              f"{self.names.get(options['from'])!r} declares no to_canonical "
                                              f"mapping for {options['entity']}",
                                              f"add entities.{options['entity']}.to_canonical"))
        out.pop("canonical", None)
        return [ResolvedStep("fetch", out)]

    def _resolve_skus(self, options: YDict) -> list[ResolvedStep]:
        if "operation" in options:
            return [ResolvedStep("resolve_skus", options)]
        decl = self._declaration(options, "on")
        index = (decl or {}).get("sku_index")
        if not index:
            return [ResolvedStep("resolve_skus", options)]  # the ID map only
        out = _copy(options)
        read = (decl.get("reads") or {}).get(index.get("read", "all")) or {}
        for key in ("operation", "query", "body"):
            if key in read:
                copy_entry(out, read, key)
        copy_entry(out, index, "items")
        return [ResolvedStep("resolve_skus", out)]

    def _identify(self, options: YDict) -> list[ResolvedStep]:
        """A record that names no SKU (a stock level) gets it from the SKU index of the entity its
        connector names under sku_of (the product's variants, with their inventory item ids)."""
        if "operation" in options:
            return [ResolvedStep("identify", options)]
        decl = self._declaration(options, "on")
        if decl is None:
            return [ResolvedStep("identify", options)]
        sku_of = decl.get("sku_of")
        connector = self.connectors.get(options["on"])
        index = (entity_declaration(connector, sku_of["entity"]) or {}).get("sku_index") if sku_of else None
        if not index:
            self.problems.append(_problem(options, "entity",
                                          f"connector {self.names.get(options['on'])!r} does not say how to find the "
                                          f"SKU of a {options['entity']} record",
                                          f"add entities.{options['entity']}.sku_of: {{entity, by}}, and a sku_index "
                                          "on that entity"))
            return [ResolvedStep("identify", options)]
        out = _copy(options)
        copy_entry(out, sku_of, "by")
        read = (entity_declaration(connector, sku_of["entity"]).get("reads") or {}).get(index.get("read", "all")) or {}
        for key in ("operation", "query", "body"):
            if key in read:
                copy_entry(out, read, key)
        copy_entry(out, index, "items")
        return [ResolvedStep("identify", out)]

    def _stock(self, options: YDict) -> list[ResolvedStep]:
        """What may be sold, read again from the source and written to the channel: the source's
        levels by id (entities.<levels>.get, sku_of, to_canonical) and the channel's stock
        (entities.<entity>: writes update, activate, deactivate; get and to_canonical)."""
        if "write" in options:
            return [ResolvedStep("stock", options)]
        out = _copy(options)
        levels = options.get("levels", "inventory_level")
        source = self.connectors.get(options.get("from"))
        source_decl = entity_declaration(source, levels) if source is not None else None
        if source is not None and source_decl is None:
            self.problems.append(_problem(options, "from", f"connector {self.names.get(options['from'])!r} "
                                                           f"declares no entity {levels!r}",
                                          "declare it under the connector's entities:"))
        elif source_decl is not None:
            get, sku_of = source_decl.get("get"), source_decl.get("sku_of")
            if not get or not get.get("many") or not sku_of or "to_canonical" not in source_decl:
                self.problems.append(_problem(options, "from", f"connector {self.names.get(options['from'])!r} "
                                                               f"cannot read the {levels} of given SKUs again",
                                              f"declare entities.{levels}.get (many: true), sku_of and "
                                              "to_canonical"))
            else:
                read = YDict(loc=getattr(get, "loc", None), path=getattr(get, "path", ()))
                for key in ("operation", "param", "in", "size", "join", "each", "template"):
                    if key in get:
                        copy_entry(read, get, key)
                copy_entry(read, source_decl, "to_canonical", as_key="mapping")
                copy_entry(read, sku_of, "by")
                out["read"] = read
        decl = self._declaration(options, "to")
        if decl is not None:
            writes = decl.get("writes") or {}
            if "update" not in writes or "from_canonical" not in decl:
                self.problems.append(_problem(options, "to", f"connector {self.names.get(options['to'])!r} declares "
                                                             f"no update of {options['entity']}",
                                              f"add entities.{options['entity']}.writes.update and from_canonical"))
                return [ResolvedStep("stock", out)]
            write = _copy(writes["update"])
            if "mapping" not in write:
                copy_entry(write, decl, "from_canonical", as_key="mapping")
            out["write"] = write
            for name in ("activate", "deactivate"):
                if name in writes:
                    copy_entry(out, writes, name)
            if decl.get("warehouses") and "warehouses_read" not in options:
                copy_entry(out, decl, "warehouses", as_key="warehouses_read")
            get = decl.get("get")
            if get and get.get("many") and "to_canonical" in decl:
                current = _copy(get)
                copy_entry(current, decl, "to_canonical", as_key="mapping")
                out["current"] = current
        return [ResolvedStep("stock", out)]

    def _ensure(self, options: YDict) -> list[ResolvedStep]:
        decl = self._declaration(options, "to")
        if decl is None:
            return [ResolvedStep("ensure", options)]
        if decl.get("embedded"):
            return []  # no resource of its own: the record it would link to carries it
        out = _copy(options)
        if "lookup" in decl and "lookup" not in options:
            copy_entry(out, decl, "lookup")
        create = (decl.get("writes") or {}).get("create")
        if create and "create" not in options:
            node = YDict(loc=getattr(create, "loc", None), path=getattr(create, "path", ()))
            for key in ("operation", "id", "mapping"):
                if key in create:
                    copy_entry(node, create, key)
            out["create"] = node
        if "from_canonical" in decl and "mapping" not in options:
            copy_entry(out, decl, "from_canonical", as_key="mapping")
        if "create" not in out:
            self.problems.append(_problem(options, "to", f"connector {self.names.get(options['to'])!r} declares no "
                                                         f"create for {options['entity']}",
                                          f"add entities.{options['entity']}.writes.create"))
        return [ResolvedStep("ensure", out)]

    def _upload_images(self, options: YDict) -> list[ResolvedStep]:
        if "operation" in options:
            return [ResolvedStep("upload_images", options)]
        role = options.get("to")
        if role not in self.connectors or self.connectors[role] is None:
            return [ResolvedStep("upload_images", options)]
        decl = self._declaration(options, "to")
        images = (decl or {}).get("images")
        if not images:
            return []  # this channel takes image URLs as they are
        out = _copy(options)
        for key in ("operation", "form", "file_field", "result"):
            if key in images:
                copy_entry(out, images, key)
        if images.get("max"):
            out["urls"] = f"({options['urls']})[:{int(images['max'])}]"
            out.value_locs["urls"] = options.value_locs.get("urls")
        return [ResolvedStep("upload_images", out)]

    def _filter(self, options: YDict) -> list[ResolvedStep]:
        out = _copy(options)
        if not self._bind(out, "when"):
            return []  # no selection set: every record is synced, as without the step
        self._bind(out, "leaving")
        if out.get("leaving", "deactivate" if "on" in out else "keep") != "deactivate" or "writes" in out:
            return [ResolvedStep("filter", out)]
        decl = self._declaration(out, "on") if "entity" in out else None
        if decl is None:
            return [ResolvedStep("filter", out)]
        writes = decl.get("writes") or {}
        named = YDict(loc=getattr(writes, "loc", None), path=getattr(writes, "path", ()))
        for name in ("deactivate", "activate"):
            if name in writes:
                copy_entry(named, writes, name)
        if "deactivate" not in named:
            role = out["on"]
            self.problems.append(_problem(out, "leaving" if "leaving" in out else "on",
                                          f"connector {self.names.get(role)!r} (role {role!r}) declares no "
                                          f"deactivate write for {out['entity']}, so a record that leaves the "
                                          f"selection cannot be taken off it",
                                          f"declare entities.{out['entity']}.writes.deactivate on the connector, "
                                          f"or keep such records as they are (leaving: keep)"))
        out["writes"] = named
        return [ResolvedStep("filter", out)]

    def _price(self, options: YDict) -> list[ResolvedStep]:
        out = _copy(options)
        ref = options.get("rules")
        if self.options is not None and is_option_ref(ref):
            if not self._bind(out, "rules"):
                return []  # no price rules named: prices are mirrored, as without the step
            name = out["rules"]
            document = self.project.get("price_rules", name) if isinstance(name, str) else None
            if document is None:
                known = self.project.names("price_rules")
                where = (self.options, ref["option"]) if ref["option"] in self.options else (out, "rules")
                self.problems.append(_problem(*where, f"unknown price rules {name!r}",
                                              did_you_mean(str(name), known) if known else
                                              "no file of kind price_rules is loaded; write one beside the "
                                              "merchant file"))
                return []
            out["rules"] = document.doc
        if "costs_from" in out and "costs" not in out and self.connectors.get(out["costs_from"]) is not None:
            decl = self._declaration(out, "costs_from") if "entity" in out else None
            if decl is not None and "costs" in decl:
                copy_entry(out, decl, "costs")
        return [ResolvedStep("price", out)]

    def _push(self, options: YDict) -> list[ResolvedStep]:
        if any(action in options for action in WRITE_ACTIONS) or "writes" in options:
            return [ResolvedStep("push", options)]
        decl = self._declaration(options, "to")
        if decl is None:
            return [ResolvedStep("push", options)]
        out = _copy(options)
        writes = decl.get("writes") or {}
        for action in WRITE_ACTIONS:
            if action in writes:
                copy_entry(out, writes, action)
        others = [name for name in writes if name not in WRITE_ACTIONS]
        if others and "writes" not in options:
            named = YDict(loc=getattr(writes, "loc", None), path=getattr(writes, "path", ()))
            for name in others:
                copy_entry(named, writes, name)
            out["writes"] = named
        if "lookup" in decl and "lookup_existing" not in options:
            copy_entry(out, decl, "lookup", as_key="lookup_existing")
        if "create" not in out:
            self.problems.append(_problem(options, "to", f"connector {self.names.get(options['to'])!r} declares no "
                                                         f"create for {options['entity']}",
                                          f"add entities.{options['entity']}.writes.create"))
        return [ResolvedStep("push", out)]


def is_option_ref(value: Any) -> bool:
    """`{option: NAME}`: a step option whose value is the flow option NAME of each binding."""
    return isinstance(value, dict) and set(value) == {"option"} and isinstance(value["option"], str)


def mappings_used(steps: list[ResolvedStep]) -> dict[str, str | None]:
    """Each mapping the steps apply, with the role whose market (region, currency) it sees then: a
    map step's `market`, or the `to` of the step whose write builds its body with it."""
    used: dict[str, str | None] = {}
    for step in steps:
        options = step.options if isinstance(step.options, dict) else {}
        if options.get("mapping"):
            used.setdefault(options["mapping"], options.get("market"))
        nested = [value for value in options.values() if isinstance(value, dict)]
        nested += [value for value in (options.get("writes") or {}).values() if isinstance(value, dict)]
        for value in nested:
            if value.get("mapping"):
                used.setdefault(value["mapping"], options.get("to") or options.get("market"))
    return used


def resolve_for_merchant(project: Any, merchant: Any, flow: Any, roles: dict[str, str],
                         problems: list[Problem] | None = None, options: Any = None) -> list[ResolvedStep]:
    """The flow's steps for one merchant binding (role -> the merchant's connection name), with the
    binding's flow `options` (a step option written `{option: NAME}` takes its value from them)."""
    connections = merchant.get("connections") or {}
    connectors, names = {}, {}
    for role, conn_name in roles.items():
        conn = connections.get(conn_name)
        document = project.get("connector", conn["connector"]) if isinstance(conn, dict) else None
        connectors[role] = document.doc if document is not None else None
        names[role] = conn.get("connector") if isinstance(conn, dict) else None
    resolver = FlowResolver(flow, connectors, project, names, YDict() if options is None else options)
    steps = resolver.steps()
    if problems is not None:
        problems.extend(resolver.problems)
    elif resolver.problems:
        from engine.errors import SpecError

        raise SpecError(resolver.problems)
    return steps
