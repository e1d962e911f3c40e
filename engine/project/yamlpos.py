"""Safe YAML loading that remembers where every key and value came from.

Mappings load as `YDict` and sequences as `YList`: ordinary dict/list subclasses that also carry
the Location of each child. Scalars stay plain Python values; their position lives in the parent.
Because positions travel with the containers, a value merged from a merchant's override keeps
pointing at the merchant's file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Location, Problem, SpecError


class YDict(dict):
    """A mapping with the location of itself, of each key, and of each value."""

    __slots__ = ("loc", "key_locs", "value_locs", "path", "spans")

    def __init__(self, *args: Any, loc: Location | None = None, path: tuple = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc = loc
        self.path = path  # keys from the document root, for field paths in errors
        self.key_locs: dict[Any, Location] = {}
        self.value_locs: dict[Any, Location] = {}
        self.spans: dict[Any, Spans] = {}  # text values: where each source line of the text starts


class YList(list):
    """A sequence with the location of itself and of each item."""

    __slots__ = ("loc", "item_locs", "path", "spans")

    def __init__(self, *args: Any, loc: Location | None = None, path: tuple = ()) -> None:
        super().__init__(*args)
        self.loc = loc
        self.path = path
        self.item_locs: list[Location] = []
        self.spans: dict[int, Spans] = {}


# (line, col, length) of each source line holding a text scalar's characters, 1-based; lets an
# error found at character N of an expression point at the exact column, inside quotes or blocks.
Spans = tuple[tuple[int, int, int], ...]


def _spans(node: yaml.ScalarNode, buffer: str | None) -> Spans | None:
    start, end = node.start_mark, node.end_mark
    if not buffer or start.index >= end.index or not isinstance(node.value, str):
        return None
    raw = buffer[start.index:end.index]
    if node.style in ("|", ">"):
        lines = raw.split("\n")[1:]  # the first line holds the indicator
        indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
        if not indents:
            return None
        indent = min(indents)
        out = [(start.line + 2 + i, indent + 1, len(line[indent:].rstrip()))
               for i, line in enumerate(lines) if line.strip() or i < len(lines) - 1]
        return tuple(out)
    col = start.column + 1
    if node.style in ('"', "'"):
        raw, col = raw[1:-1], col + 1
    out = []
    for i, line in enumerate(raw.split("\n")):
        stripped = line.lstrip(" \t") if i else line
        out.append((start.line + 1 + i, (col if not i else len(line) - len(stripped) + 1), len(stripped.rstrip())))
    return tuple(out)


def text_location(container: Any, key: Any, offset: int = 0, line_offset: int = 0) -> Location | None:
    """The location of character `offset` (or of line `line_offset`) of the text value at `key`."""
    if isinstance(container, YDict):
        base = container.value_locs.get(key, container.loc)
    elif isinstance(container, YList) and isinstance(key, int) and 0 <= key < len(container.item_locs):
        base = container.item_locs[key]
    else:
        return None
    spans = getattr(container, "spans", {}).get(key)
    if base is None or not spans:
        return base
    if line_offset:
        line, col, _ = spans[min(line_offset, len(spans) - 1)]
        return Location(base.file, line, col)
    for line, col, length in spans:
        if offset <= length:
            return Location(base.file, line, col + offset)
        offset -= length + 1
    line, col, length = spans[-1]
    return Location(base.file, line, col + length)


def _loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Constructor(yaml.SafeLoader):
    """Only the safe scalar resolver is used: no tags that build Python objects."""


# YAML 1.2 booleans: only true/false. Under YAML 1.1 rules `on:`, `yes` and `no` become booleans,
# which silently breaks keys such as a step's `on:` and country codes such as NO.
_Constructor.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
for _first in "tTfF":
    _Constructor.yaml_implicit_resolvers.setdefault(_first, []).append(("tag:yaml.org,2002:bool", _BOOL))


_MAP_TAG, _SEQ_TAG, _MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"


def _build(node: yaml.Node, file: str, loader: _Constructor, path: tuple = (), open_nodes: tuple = ()) -> Any:
    buffer = getattr(loader, "buffer", None)
    if isinstance(node, yaml.CollectionNode) and any(node is seen for seen in open_nodes):
        raise SpecError(Problem("a YAML alias (*name) refers to the list or mapping it is inside of",
                                _loc(file, node.start_mark), format_path(path),
                                hint="an alias must name a value defined before and outside it"))
    open_nodes = (*open_nodes, node)
    if isinstance(node, yaml.CollectionNode) and node.tag not in (_MAP_TAG, _SEQ_TAG):
        raise SpecError(Problem(f"unsupported YAML tag {node.tag!r}", _loc(file, node.start_mark),
                                hint="files hold plain data: remove the tag"))
    if isinstance(node, yaml.MappingNode):
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<) the safe way
        merged = len(node.value) - explicit  # flatten puts the merged pairs first
        from_merge: set[Any] = set()  # keys whose value came from `<<`: a key written here replaces them
        out = YDict(loc=_loc(file, node.start_mark), path=path)
        for index, (key_node, value_node) in enumerate(node.value):
            key = _build(key_node, file, loader, open_nodes=open_nodes)
            if not isinstance(key, str | int | bool) and key is not None:
                raise SpecError(Problem("a mapping key must be a plain scalar", _loc(file, key_node.start_mark)))
            if index < merged:
                from_merge.add(key)
            elif key in from_merge:
                from_merge.discard(key)
            elif key in out:
                first = out.key_locs[key]
                raise SpecError(
                    Problem(
                        f"duplicate key {key!r} (first defined at line {first.line})",
                        _loc(file, key_node.start_mark),
                        format_path(path + (key,)),
                        hint="YAML keeps only the last value of a repeated key; remove one of them",
                    )
                )
            out[key] = _build(value_node, file, loader, path + (key,), open_nodes)
            out.key_locs[key] = _loc(file, key_node.start_mark)
            out.value_locs[key] = _loc(file, value_node.start_mark)
            if isinstance(value_node, yaml.ScalarNode) and (spans := _spans(value_node, buffer)):
                out.spans[key] = spans
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = YList(loc=_loc(file, node.start_mark), path=path)
        for index, item in enumerate(node.value):
            seq.append(_build(item, file, loader, path + (index,), open_nodes))
            seq.item_locs.append(_loc(file, item.start_mark))
            if isinstance(item, yaml.ScalarNode) and (spans := _spans(item, buffer)):
                seq.spans[index] = spans
        return seq
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2024-13-45 read as a date, !!int abc
        raise SpecError(Problem(f"cannot read this value: {exc}", _loc(file, node.start_mark), format_path(path),
                                hint="quote it to keep it as text")) from None


def loads(text: str, file: str = "<string>") -> Any:
    """Parse one YAML document, keeping positions. Raises SpecError with file:line:col."""
    loader = None
    try:
        loader = _Constructor(text)
        if not loader.check_node():
            return None
        node = loader.get_node()
        if loader.check_node():
            extra = loader.get_node()
            raise SpecError(
                Problem(
                    "a second YAML document ('---') in one file",
                    _loc(file, extra.start_mark),
                    hint="put each connector, mapping, flow or merchant in its own file",
                )
            )
        return _build(node, file, loader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(_diagnose(exc, text, file)) from None
    except yaml.YAMLError as exc:  # the reader's refusal of a control character, with a position
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = getattr(exc, "reason", "") or str(exc).split("\n")[0]
        raise SpecError(Problem(f"invalid YAML: {reason}", Location(file, line, col),
                                hint="remove the control character (files are plain UTF-8 text)")) from None
    finally:
        if loader is not None:
            loader.dispose()


_CLOSERS = {"[": "]", "{": "}", '"': '"', "'": "'"}


def _unclosed(exc: yaml.MarkedYAMLError, text: str) -> str | None:
    """The bracket or quote a parse error ran past the end of the file looking for a close of."""
    mark, problem = exc.context_mark, str(exc.problem or "")
    if mark is None or not ("stream end" in problem or "end of stream" in problem):
        return None
    opener = text[mark.index] if 0 <= mark.index < len(text) else ""
    return opener if opener in _CLOSERS else None


def _diagnose(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """The problem a parse error stands for, placed where the mistake is rather than where the
    parser gave up: an unclosed bracket or quote at its opening, a misindented line at that line."""
    opener = _unclosed(exc, text)
    if opener is not None:
        closer = _CLOSERS[opener]
        return Problem(f"invalid YAML: the {opener!r} opened here is never closed ({exc.problem})",
                       _loc(file, exc.context_mark), hint=f"add the closing {closer!r}, or quote the whole value")
    mark = exc.problem_mark or exc.context_mark
    runaway = _runaway_quote(text, mark.index if mark else len(text))
    if runaway is not None:
        start, end_line = runaway
        quote = text[start.index]
        return Problem(f"invalid YAML: the {quote!r} opened here is not closed on its line; the quoted text runs on "
                       f"to line {end_line} and swallows the lines between",
                       _loc(file, start), hint=f"add the closing {quote!r} at the end of the value on this line")
    indentation = _bad_indentation(exc, text, file)
    if indentation is not None:
        return indentation
    where = _loc(file, mark) if mark else Location(file, 1, 1)
    message = ": ".join(str(p) for p in (exc.context, exc.problem) if p)
    return Problem(f"invalid YAML: {message}", where, hint=_yaml_hint(message))


_STRUCTURE_LINE = re.compile(r"^\s*(?:- |[A-Za-z0-9_$\"'.-]+\s*:(?:\s|$))")


def _runaway_quote(text: str, error_index: int) -> tuple[yaml.Mark, int] | None:
    """A quoted value whose closing quote is missing, so that it ran on to a later quote.

    The quoted text then spans several lines, some of which look like YAML keys or list items.
    Found by scanning the tokens before the error; None when there is no such value.
    """
    found = None
    try:
        for token in yaml.scan(text):
            if token.start_mark.index >= error_index:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'") \
                    and token.end_mark.line > token.start_mark.line:
                inner = text[token.start_mark.index:token.end_mark.index].split("\n")[1:]
                if any(_STRUCTURE_LINE.match(line) for line in inner):
                    found = (token.start_mark, token.end_mark.line + 1)
    except yaml.YAMLError:
        pass
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_indent(line: str) -> int:
    """Where the first key of a line starts: after the indentation and any `- ` list markers."""
    match = re.match(r"^((?:\s*- +)*)\s*", line)
    return match.end() if match else 0


def _content_lines(lines: list[str], before: int) -> list[tuple[int, str]]:
    """(0-based index, text) of the lines before `before` that hold something, nearest first."""
    return [(i, lines[i]) for i in range(min(before, len(lines)) - 1, -1, -1)
            if lines[i].strip() and not lines[i].lstrip().startswith("#")]


def _spaces(count: int) -> str:
    return "1 space" if count == 1 else f"{count} spaces"


def _bad_indentation(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem | None:
    mark = exc.problem_mark
    if mark is None:
        return None
    problem = str(exc.problem or "")
    lines = text.split("\n")
    if mark.line >= len(lines):
        return None
    line = lines[mark.line]
    indent = _indent(line)
    previous = _content_lines(lines, mark.line)
    if not previous:
        return None
    if problem.startswith("mapping values are not allowed"):
        # An over-indented `key: value` line is read as the continuation of the value above, and
        # its colon then makes no sense; a colon later in the line is a value that needs quotes.
        head = line[indent:mark.column]
        prev_index, prev_line = previous[0]
        prev_key = _key_indent(prev_line)
        if ":" in head or head.startswith(("-", "#", "\"", "'")) or not head.strip() or indent <= prev_key:
            return None
        if not re.match(r"^\s*(?:- +)*[^:#]+:\s+\S", prev_line):
            return None
        levels = [(prev_key, prev_index)]
    elif "expected <block end>" in problem and ("block mapping start" in problem or "block sequence start" in problem):
        levels = []
        for index, candidate in previous:
            for level in (_key_indent(candidate), _indent(candidate)):  # a `- key:` line opens two levels
                if not levels or level < levels[-1][0]:
                    levels.append((level, index))
            if levels[-1][0] == 0:
                break
        above = [lv for lv in levels if lv[0] > indent]
        below = [lv for lv in levels if lv[0] < indent]
        levels = ([above[-1]] if above else []) + ([below[0]] if below else [])
        if not levels:
            return None
    else:
        return None
    first, *rest = levels
    expected = f"expected {_spaces(first[0])} (as on line {first[1] + 1})"
    if rest:
        expected += f" or {rest[0][0]} (as on line {rest[0][1] + 1})"
    return Problem(f"bad indentation: this line is indented {_spaces(indent)}; {expected}",
                   Location(file, mark.line + 1, indent + 1),
                   hint=f"indent it by {first[0]} spaces to sit beside the key above"
                   + (f", or by {rest[0][0]} to close that block" if rest else "")
                   + "; YAML nests by indentation")


def _yaml_hint(message: str) -> str:
    if "'\\t'" in message or "tab" in message:
        return "YAML indentation must use spaces, not tabs"
    if "mapping values are not allowed" in message:
        return "a value containing ': ' must be quoted"
    if "could not find expected ':'" in message or "expected <block end>" in message:
        return "check the indentation of this line against the one before"
    if "found character '`'" in message or "found undefined alias" in message:
        return "quote values that start with ` or * (for example JMESPath literals)"
    return "check quoting and indentation near this position"


def load_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(Problem(f"not UTF-8 text: {exc}", Location(str(path), 1, 1),
                                hint="save the file as UTF-8")) from None
    except OSError as exc:
        raise SpecError(Problem(f"cannot read the file: {exc.strerror}", Location(str(path), 1, 1),
                                hint="check that it exists and is readable")) from None
    return loads(text, str(path))


def locate(root: Any, path: Iterable[Any], *, key: bool = False) -> Location | None:
    """The location of the value at `path` (a sequence of keys and indexes), or of its key.

    Falls back to the deepest ancestor whose position is known, so an error about a missing
    field points at the object that lacks it.
    """
    node, best = root, getattr(root, "loc", None)
    parts = list(path)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, YDict) and part in node:
            best = (node.key_locs if key and last else node.value_locs).get(part, best)
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locs[part]
            node = node[part]
        else:
            break
    return best


def plain(value: Any) -> Any:
    """A copy without positions (plain dicts and lists), for runtime use and JSON output."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def field_path(root: Any, parts: Iterable[Any]) -> str:
    """The field path of `parts` below `root`, as written in the file the value came from.

    Containers know their own path, so a value merged in from a merchant's override reports the
    override's path (overrides.mappings.NAME.fields...), not the shared file's.
    """
    node, base, rest = root, tuple(getattr(root, "path", ())), []
    for part in parts:
        rest.append(part)
        try:
            node = node[part] if isinstance(node, dict | list) else None
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(node, YDict | YList):
            base, rest = tuple(node.path), []
    return format_path((*base, *rest))


def format_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
