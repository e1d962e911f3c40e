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


def _empty_key_before(node: yaml.MappingNode, index: int, parent_col: int | None) -> yaml.Node | None:
    """The key without a value, after the first of a repeated key and before the repeat, in a block
    indented deeper than its parent key: that key sits one level too deep, so the lines meant to
    be under it joined the block above (and repeat one of its keys)."""
    if parent_col is None or node.flow_style is True or node.start_mark.column <= parent_col:
        return None
    repeated = node.value[index][0].value
    for j in range(index - 1, -1, -1):
        key_node, value_node = node.value[j]
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == repeated:
            return None
        # An empty plain value: its style is None from the Python parser and "" from libyaml's.
        if isinstance(value_node, yaml.ScalarNode) and value_node.value == "" and not value_node.style:
            return key_node
    return None


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


# libyaml's parser, when PyYAML was built with it: the same nodes and marks (line, column and
# character index) as the pure-Python one, about 15 times faster, and it refuses nesting past
# 1,000 levels itself. Any file it does not take as it is (an error, a control character) is read
# again by the pure-Python parser, whose messages the diagnostics below are written for.
if getattr(yaml, "__with_libyaml__", False):
    class _FastConstructor(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, text: str) -> None:
            yaml.cyaml.CParser.__init__(self, text)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.buffer = text  # for the text spans of scalars, as the Python reader keeps it

    _FastConstructor.yaml_implicit_resolvers = _Constructor.yaml_implicit_resolvers
else:  # pragma: no cover  (PyYAML without libyaml: the pure-Python parser alone)
    _FastConstructor = None


_MAP_TAG, _SEQ_TAG, _MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"

# Limits that keep a hostile file (a YAML bomb, a runaway generator's output) from taking the
# time or memory of whoever validates it. Real projects stay far below each.
MAX_FILE_BYTES = 4_000_000  # a connector spec is ~50 kB
MAX_VALUES = 200_000  # values once aliases are expanded: a "billion laughs" stops here
MAX_DEPTH = 64  # lists and mappings inside each other
MAX_TEXT = 200_000  # characters of one text value
# Characters that make text read differently from what it is (bidirectional overrides, as in
# "Trojan Source"), or that no editor shows; the YAML reader lets them through.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2028\u2029\ufeff\x85]")


def _limit(file: str, node: yaml.Node, path: tuple, message: str, hint: str) -> SpecError:
    return SpecError(Problem(message, _loc(file, node.start_mark), format_path(path), hint=hint))


def _refuse_bombs(root: yaml.Node, file: str, text: str) -> yaml.Node:
    """Count the values the document expands to before building any: an alias shares its
    anchor's node, so each node's expanded size is computed once (iteratively: the nesting may be
    deep) and a "billion laughs" is refused in milliseconds, at the node where the count passes
    the limit, instead of after building that many values. Without an anchor (`&name`) there is
    no alias, and the size is the file's own: nothing to count (a text the pattern takes for an
    anchor only costs the count; an anchor it missed is still refused by _build's own count)."""
    if _ANCHOR.search(text) is None:
        return root
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()  # a node inside itself (a recursive alias) counts once; _build refuses it
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        if children_done:
            open_ids.discard(id(node))
            size = 1 + sum(sizes.get(id(child), 1) for child in children)
            sizes[id(node)] = size
            if size > MAX_VALUES:
                raise _limit(file, node, (), f"the file expands to more than {MAX_VALUES:,} values", _BOMB_HINT)
            continue
        if id(node) in sizes or id(node) in open_ids:
            continue
        open_ids.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes and id(child) not in open_ids)
    return root


_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[A-Za-z0-9_-]", re.MULTILINE)
_BOMB_HINT = ("aliases (*name) repeat what their anchor (&name) holds; aliases of aliases multiply it "
              "(a 'YAML bomb'): write the values out, or use fewer aliases")


def _build(node: yaml.Node, file: str, loader: _Constructor, path: tuple = (), open_nodes: tuple = (),
           parent_col: int | None = None) -> Any:
    buffer = getattr(loader, "buffer", None)
    if isinstance(node, yaml.CollectionNode) and any(node is seen for seen in open_nodes):
        raise SpecError(Problem("a YAML alias (*name) refers to the list or mapping it is inside of",
                                _loc(file, node.start_mark), format_path(path),
                                hint="an alias must name a value defined before and outside it"))
    open_nodes = (*open_nodes, node)
    loader.values_built = getattr(loader, "values_built", 0) + 1
    if loader.values_built > MAX_VALUES:
        raise _limit(file, node, path, f"the file expands to more than {MAX_VALUES:,} values", _BOMB_HINT)
    if len(open_nodes) > MAX_DEPTH:
        raise _limit(file, node, path, f"lists and mappings nested more than {MAX_DEPTH} levels deep",
                     "flatten the structure; no file of the project needs that depth")
    if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str):
        if len(node.value) > MAX_TEXT:
            raise _limit(file, node, path, f"a text value of {len(node.value):,} characters (at most {MAX_TEXT:,})",
                         "keep large data out of project files")
        hidden = _INVISIBLE.search(node.value)
        if hidden is not None:
            raise _limit(file, node, path, f"invisible or direction-changing character U+{ord(hidden[0]):04X} in "
                         "a value", "such characters make text read differently from what it is: remove it")
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
                empty = _empty_key_before(node, index, parent_col)
                if empty is not None:
                    raise SpecError(Problem(
                        f"bad indentation: this line is indented {_spaces(empty.start_mark.column)}; expected "
                        f"{_spaces(parent_col)}: {empty.value!r} has nothing under it, so the lines below join "
                        f"{path[-1]!r} (which then has {key!r} twice)",
                        _loc(file, empty.start_mark), format_path(path + (empty.value,)),
                        hint=f"indent it by {parent_col} spaces, beside {path[-1]!r}"))
                raise SpecError(
                    Problem(
                        f"duplicate key {key!r} (first defined at line {first.line})",
                        _loc(file, key_node.start_mark),
                        format_path(path + (key,)),
                        hint="YAML keeps only the last value of a repeated key; remove one of them",
                    )
                )
            out[key] = _build(value_node, file, loader, path + (key,), open_nodes, key_node.start_mark.column)
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
    if _FastConstructor is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        fast = _FastConstructor(text)
        try:
            node = fast.get_single_node()
            return None if node is None else _build(_refuse_bombs(node, file, text), file, fast)
        except yaml.YAMLError:
            pass  # read again below, for the message (a bad merge key is found while building)
        finally:
            fast.dispose()
    return _loads_slowly(text, file)


def _loads_slowly(text: str, file: str) -> Any:
    """The pure-Python parser: the reference, and the one whose errors are diagnosed."""
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
        return _build(_refuse_bombs(node, file, text), file, loader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(_diagnose(exc, text, file)) from None
    except RecursionError:  # the parser recurses per level of nesting
        raise SpecError(Problem(f"lists and mappings nested more than {MAX_DEPTH} levels deep",
                                _deepest(text, file),
                                hint="flatten the structure; no file of the project needs that depth")) from None
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


def _deepest(text: str, file: str) -> Location:
    """Where nesting first passes MAX_DEPTH: by brackets ([ {) or by indentation."""
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        indent = len(line) - len(line.lstrip(" "))
        if indent > 2 * MAX_DEPTH:
            return Location(file, number, 1)
        for col, char in enumerate(line, start=1):
            depth += char in "[{"
            depth -= char in "]}"
            if depth > MAX_DEPTH:
                return Location(file, number, col)
    return Location(file, 1, 1)


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
    runaway = _runaway_quote(text, mark.index if mark else len(text)) or _scanning_runaway(exc, text)
    inline = _inline_runaway(text, mark.index if mark else len(text)) if runaway is None else None
    if inline is not None:
        quote = text[inline.index]
        return Problem(f"invalid YAML: the {quote!r} opened here closes only at the next {quote!r} on this line, "
                       "and takes the text between as its value", _loc(file, inline),
                       hint=f"add the closing {quote!r} at the end of this value")
    if runaway is not None:
        start, end_line = runaway
        quote = text[start.index]
        return Problem(f"invalid YAML: the {quote!r} opened here is not closed on its line; the quoted text runs on "
                       f"to line {end_line} and swallows the lines between",
                       _loc(file, start), hint=f"add the closing {quote!r} at the end of the value on this line")
    indentation = _bad_indentation(exc, text, file)
    if indentation is not None:
        return indentation
    if mark is not None and "'\\t'" in str(exc.problem or ""):
        line = text.split("\n")[mark.line] if mark.line < len(text.split("\n")) else ""
        where = "in the indentation" if not line[:mark.column].strip() else "between the values"
        return Problem(f"invalid YAML: a tab {where} (found character '\\t' that cannot start any token)",
                       _loc(file, mark), hint="YAML indentation must use spaces, not tabs: replace the tab "
                                              "with spaces")
    where = _loc(file, mark) if mark else Location(file, 1, 1)
    message = ": ".join(str(p) for p in (exc.context, exc.problem) if p)
    return Problem(f"invalid YAML: {message}", where, hint=_yaml_hint(message))


_STRUCTURE_LINE = re.compile(r"^\s*(?:- |[^\s:#][^:#]*?:(?:\s|$))")


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


_SWALLOWED = re.compile(r"(,\s*|\{\s*|\[\s*)[^\s,:{}\[\]]+\s*:\s|,\s*$|:\s*[\[{]?$")


def _inline_runaway(text: str, error_index: int) -> yaml.Mark | None:
    """The start of a quoted value on one line that swallowed the structure after it up to the
    next quote (`{id: "1, name: "x"}`): the last quoted value before the error, when its text
    holds a `, key:` or ends where a next value would begin."""
    last = None
    try:
        for token in yaml.scan(text):
            if token.start_mark.index >= error_index:
                break
            if isinstance(token, yaml.ScalarToken):
                last = token
    except yaml.YAMLError:
        pass
    if last is None or last.style not in ('"', "'") or last.start_mark.line != last.end_mark.line:
        return None
    inner = text[last.start_mark.index + 1:last.end_mark.index - 1]
    if last.end_mark.line != text.count("\n", 0, error_index) or not _SWALLOWED.search(inner):
        return None
    return last.start_mark


def _scanning_runaway(exc: yaml.MarkedYAMLError, text: str) -> tuple[yaml.Mark, int] | None:
    """A quoted value the scanner was still reading, lines after it opened, when it failed there."""
    start, end = exc.context_mark, exc.problem_mark
    if start is None or end is None or "quoted scalar" not in str(exc.context or "") or end.line <= start.line:
        return None
    inner = text[start.index:end.index].split("\n")[1:]
    return (start, end.line + 1) if any(_STRUCTURE_LINE.match(line) for line in inner) else None


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


def _odd_first_line(lines: list[str], at: int, indent: int) -> tuple[int, int] | None:
    """(line index, indentation) of the first line of the block that line `at` belongs to, when
    that first line is the one out of step: YAML took its indentation for the whole block, so the
    parser only stumbled on a later, rightly indented line. Decided by which indentation more
    lines of the block share; None when the line at `at` is the odd one or it is a tie."""
    # a list item is placed by its dash; a key by where the key starts
    level_of = _indent if lines[at].lstrip().startswith("- ") else _key_indent
    before = [(i, text) for i, text in reversed(_content_lines(lines, at))]
    parent = next((k for k in range(len(before) - 1, -1, -1) if level_of(before[k][1]) < indent), None)
    if parent is None or parent + 1 >= len(before):
        return None
    if not _OPENS.search(before[parent][1]):
        return None  # not a key that opens a block
    first_index, first_line = before[parent + 1]
    first = level_of(first_line)
    if first == indent:
        return None
    odd = (first_index, _indent(first_line))
    # `key:` with nothing after it, followed by lines at its own indentation: it wanted them under it
    if _OPENS.search(first_line) and parent + 2 < len(before) \
            and level_of(before[parent + 2][1]) == first:
        return odd
    with_first = 1 + sum(1 for _, text in before[parent + 2:] if level_of(text) == first)
    with_this = 0
    for text in lines[at:]:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        level = level_of(text)
        if level < indent:
            break
        with_this += level == indent
    if with_this != with_first:
        return odd if with_this > with_first else None
    # As many lines each way: the one whose step from the parent is the file's usual step is right.
    step, base = _indent_step(lines), level_of(before[parent][1])
    return odd if indent - base == step and first - base != step else None


def _misplaced_item(lines: list[str], at: int, indent: int, file: str) -> Problem | None:
    """The list item above (`- key: value`, the first of its list) placed off the file's usual
    step, when this line, a key of that item, is where the item's keys belong."""
    before = _content_lines(lines, at)
    if not before:
        return None
    index, text = before[0]
    if not text.lstrip().startswith("- "):
        return None
    dash, key = _indent(text), _key_indent(text)
    implied = indent - (key - dash)  # where the dash goes if this line is indented right
    above = _content_lines(lines, index)
    if implied < 0 or implied == dash or not above or not _OPENS.search(above[0][1]):
        return None
    parent_level, step = _key_indent(above[0][1]), _indent_step(lines)
    if implied - parent_level != step or dash - parent_level == step:
        return None
    return Problem(f"bad indentation: this line is indented {_spaces(dash)}; expected {_spaces(implied)} "
                   f"(the keys of this item, as on line {at + 1}, are indented {indent})",
                   Location(file, index + 1, dash + 1),
                   hint=f"indent the - by {implied} spaces, so the item's keys line up")


_TEXT_BLOCK = re.compile(r":\s*[|>][-+0-9]*\s*(#.*)?$")


def _odd_text_block(lines: list[str], at: int, indent: int, file: str) -> Problem | None:
    """A misindented line of a `key: >` or `key: |` text. YAML takes the first line's indentation
    for the whole text, so a shallower line ends it; the first line is blamed when the lines from
    here on agree with each other and outnumber those before."""
    for index in range(at - 1, -1, -1):
        text = lines[index]
        if not text.strip():
            continue
        if _TEXT_BLOCK.search(text) and _key_indent(text) < indent:
            body = [i for i in range(index + 1, at) if lines[i].strip()]
            if not body or _indent(lines[body[0]]) <= indent:
                return None
            first = _indent(lines[body[0]])
            with_first = sum(1 for i in body if _indent(lines[i]) == first)
            with_this = 0
            for later in lines[at:]:
                if later.strip() and _indent(later) <= _key_indent(text):
                    break
                with_this += bool(later.strip()) and _indent(later) == indent
            step, base = _indent_step(lines), _key_indent(text)
            if with_this > with_first or (with_this == with_first and indent - base == step and first - base != step):
                return Problem(f"bad indentation: this line is indented {_spaces(first)}; expected {_spaces(indent)} "
                               f"(as on line {at + 1})", Location(file, body[0] + 1, first + 1),
                               hint=f"indent it by {indent} spaces; the first line of a > or | text sets the "
                                    "indentation of all its lines")
            return Problem(f"bad indentation: this line is indented {_spaces(indent)}; expected {_spaces(first)} "
                           f"(as on line {body[0] + 1}, the first line of this text)", Location(file, at + 1, indent + 1),
                           hint=f"indent it by {first} spaces; the first line of a > or | text sets the "
                                "indentation of all its lines")
        if _indent(text) <= indent:
            return None
    return None


def _opens_block_at(lines: list[str], index: int) -> bool:
    """True when line `index` is the first line of its block (right under the key that opens it)."""
    before = _content_lines(lines, index)
    return bool(before) and bool(_OPENS.search(before[0][1])) \
        and _key_indent(before[0][1]) < _key_indent(lines[index])


def _indent_step(lines: list[str]) -> int:
    """The file's usual indentation step: how much deeper the first line of a block mostly is."""
    steps: dict[int, int] = {}
    previous = None
    for text in lines:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if previous is not None and _OPENS.search(previous):
            delta = _key_indent(text) - _key_indent(previous)
            if delta > 0:
                steps[delta] = steps.get(delta, 0) + 1
        previous = text
    return max(steps, key=lambda k: (steps[k], -k)) if steps else 2


_OPENS = re.compile(r":\s*(?:&\S+\s*)?(?:#.*)?$")  # `key:` (maybe with an anchor) that opens a block


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
    if "expected '<document start>'" in problem and indent == 0:
        first_index, first_line = previous[-1]  # the file's first line with something on it
        if _indent(first_line) > 0:
            return Problem(f"bad indentation: this line is indented {_spaces(_indent(first_line))}; expected "
                           f"0 spaces (as on line {mark.line + 1})", Location(file, first_index + 1,
                                                                            _indent(first_line) + 1),
                           hint="top-level keys start at the beginning of the line")
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
        item = _misplaced_item(lines, mark.line, indent, file)
        if item is not None:
            return item
        if _opens_block_at(lines, prev_index):
            # The line above is the first of its block: when it is the one out of the file's usual
            # step and this line is not, the line above is the mistake.
            parent_level = _key_indent(_content_lines(lines, prev_index)[0][1])
            step = _indent_step(lines)
            if indent - parent_level == step and prev_key - parent_level != step:
                return Problem(f"bad indentation: this line is indented {_spaces(_indent(prev_line))}; expected "
                               f"{_spaces(indent)} (as on line {mark.line + 1})",
                               Location(file, prev_index + 1, _indent(prev_line) + 1),
                               hint=f"indent it by {indent} spaces; YAML takes the first line of a block as "
                                    "the indentation of the whole block")
        levels = [(prev_key, prev_index)]
    elif "expected <block end>" in problem and ("found '?'" in problem or "found '<scalar>'" in problem):
        return _misplaced_item(lines, mark.line, indent, file) or _odd_text_block(lines, mark.line, indent, file)
    elif "expected <block end>" in problem and ("block mapping start" in problem or "block sequence start" in problem):
        item = _misplaced_item(lines, mark.line, indent, file) or _odd_text_block(lines, mark.line, indent, file)
        if item is not None:
            return item
        levels = []
        for index, candidate in previous:
            for level in (_key_indent(candidate), _indent(candidate)):  # a `- key:` line opens two levels
                if not levels or level < levels[-1][0]:
                    levels.append((level, index))
            if levels[-1][0] == 0:
                break
        above = [lv for lv in levels if lv[0] > indent]
        below = [lv for lv in levels if lv[0] < indent]
        if len(below) >= 2 and _OPENS.search(lines[below[1][1]]):
            # The block line below may be the one out of step: this line sits one usual step under
            # that line's parent, and it does not.
            (level, index), (parent_level, _) = below[0], below[1]
            step = _indent_step(lines)
            if indent - parent_level == step and level - parent_level != step and _opens_block_at(lines, index):
                return Problem(f"bad indentation: this line is indented {_spaces(_indent(lines[index]))}; "
                               f"expected {_spaces(indent)} (as on line {mark.line + 1})",
                               Location(file, index + 1, _indent(lines[index]) + 1),
                               hint=f"indent it by {indent} spaces; YAML takes the first line of a block as the "
                                    "indentation of the whole block")
        odd = _odd_first_line(lines, mark.line, indent)
        if odd is not None:
            index, wrong = odd
            return Problem(f"bad indentation: this line is indented {_spaces(wrong)}; expected {_spaces(indent)} "
                           f"(as on line {mark.line + 1}, and the other lines of this block)",
                           Location(file, index + 1, wrong + 1),
                           hint=f"indent it by {indent} spaces; YAML takes the first line of a block as the "
                                "indentation of the whole block")
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
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(Problem(f"the file is {size:,} bytes (at most {MAX_FILE_BYTES:,})", Location(str(path), 1, 1),
                                    hint="project files hold configuration, not data: is this the right file?"))
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        what = "a UTF-16 file" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else f"byte 0x{raw[exc.start]:02x}"
        raise SpecError(Problem(f"not UTF-8 text: {what} cannot be read as UTF-8", Location(str(path), line, col),
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


def problem_at(node: Any, path: list, message: str, hint: str = "") -> Problem:
    """A problem at `path` below `node`, with its position and its field path."""
    return Problem(message, locate(node, path), format_path([*getattr(node, "path", ()), *path]), hint)


_SOURCE_VALUE = object()


def copy_entry(target: YDict, source: Any, key: Any, value: Any = _SOURCE_VALUE, *, as_key: Any = None) -> None:
    """target[as_key or key] = source[key] (or `value`, made from it), with the positions of the
    key and its value in `source`, so a value moved into another mapping (a merge, a resolved
    step) still points at the file it came from."""
    name = key if as_key is None else as_key
    target[name] = source[key] if value is _SOURCE_VALUE else value
    if isinstance(source, YDict):
        if key in source.key_locs:
            target.key_locs[name] = source.key_locs[key]
        if key in source.value_locs:
            target.value_locs[name] = source.value_locs[key]
        if key in source.spans:
            target.spans[name] = source.spans[key]
        else:
            target.spans.pop(name, None)
