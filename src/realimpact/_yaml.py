"""One safe way to read a YAML file a user hands the tool.

``yaml.safe_load`` builds no arbitrary objects, but it is not safe against a
document that is small on disk and huge once read: a "billion laughs" file
(anchors whose aliases nest ten deep, ten wide) is 450 bytes and, once
something walks it, a thousand million nodes; a thousand nested brackets
overflow Python's stack; a month such as ``2024-99`` or an integer of a million
digits escapes as a ValueError rather than a YAML error. Every YAML the user
gives (plans, market registries, harm weights ...) goes through
:func:`load_file` or :func:`safe_load` instead, with these caps:

* the document's size (:data:`MAX_BYTES`), refused before it is parsed;
* the number of alias uses (``*name``, :data:`MAX_ALIASES`), and the number of
  nodes those aliases stand for once expanded (:data:`MAX_ALIAS_NODES`), so
  ten aliases of ten aliases of ... are refused as they are read, never built;
* recursive aliases (an anchor used inside itself), which no plain data needs;
* nesting depth (:data:`MAX_DEPTH`).

Refusals are :class:`YAMLLimitError` (a ``yaml.YAMLError``), so callers that
already turn a YAML error into "not valid YAML" keep doing so; :func:`describe`
gives the one-line reason and :func:`load_file` raises a
:class:`~realimpact.errors.RejectedFileError` naming the file.

Package data (vocabularies, the harm taxonomy, shipped weights) is trusted and
may keep using ``yaml.safe_load``.
"""

from __future__ import annotations

import os
import reprlib
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from realimpact.errors import RejectedFileError

MAX_BYTES = 5 * 1024 * 1024
MAX_ALIASES = 100
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 64
# A value quoted in a message (a bad id, a date ...) is cut to this many characters.
MAX_QUOTED = 80


class YAMLLimitError(yaml.YAMLError):
    """A document refused for its size or shape, not its syntax."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark

    def __str__(self) -> str:
        return self.problem


class YAMLValueError(YAMLLimitError):
    """A scalar YAML accepts but Python cannot build (a date 2024-99-99, a huge integer)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts depth, alias uses and the nodes aliases expand to."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}
        self._open: set[int] = set()  # nodes being composed (an alias to one is recursive)
        self.anchors = _AnchorTable(self)

    def _size(self, node: Node) -> int:
        """Nodes under ``node`` with every alias expanded (memoised, so linear overall)."""
        key = id(node)
        if key in self._sizes:
            return self._sizes[key]
        if key in self._open:
            raise YAMLLimitError("recursive alias (an anchor used inside itself)", node.start_mark)
        if isinstance(node, ScalarNode):
            n = 1
        elif isinstance(node, SequenceNode):
            n = 1 + sum(self._size(c) for c in node.value)
        elif isinstance(node, MappingNode):
            n = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        else:  # pragma: no cover - PyYAML has no other node kinds
            n = 1
        if n > MAX_ALIAS_NODES:
            raise YAMLLimitError(
                f"an alias expands to more than {MAX_ALIAS_NODES:,} nodes"
                " (anchors nested inside anchors, as in a 'billion laughs' file)",
                node.start_mark,
            )
        self._sizes[key] = n
        return n

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YAMLLimitError(
                    f"more than {MAX_ALIASES} aliases (*name); write the values out",
                    event.start_mark,
                )
            anchor = event.anchor
            target = self.anchors.get(anchor)
            if target is not None:
                self._alias_nodes += self._size(target)
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise YAMLLimitError(
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes"
                        " (anchors nested inside anchors, as in a 'billion laughs' file)",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YAMLLimitError(
                f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        return node

    # A collection is "open" from when PyYAML registers its anchor (before its
    # children) until it is composed; an alias to an open node is recursive.
    def compose_sequence_node(self, anchor: str | None) -> SequenceNode:  # type: ignore[override]
        node = super().compose_sequence_node(anchor)
        self._open.discard(id(node))
        return node

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:  # type: ignore[override]
        node = super().compose_mapping_node(anchor)
        self._open.discard(id(node))
        return node


class _AnchorTable(dict):
    """The composer's anchor table; a collection registered here is open until composed."""

    def __init__(self, loader: _Loader) -> None:
        super().__init__()
        self._loader = loader

    def __setitem__(self, key: Any, node: Any) -> None:
        super().__setitem__(key, node)
        if isinstance(node, SequenceNode | MappingNode):
            self._loader._open.add(id(node))


def _check_size(n_bytes: int) -> None:
    if n_bytes > MAX_BYTES:
        raise YAMLLimitError(
            f"{n_bytes:,} bytes is larger than the {MAX_BYTES // (1024 * 1024)} MiB"
            " a YAML file may be"
        )


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with the caps above; every failure is a ``yaml.YAMLError``."""
    if isinstance(text, bytes):
        _check_size(len(text))
    else:
        _check_size(len(text) if len(text) * 4 <= MAX_BYTES else len(text.encode("utf-8")))
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError:
        raise
    except RecursionError:
        raise YAMLLimitError(f"nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, OverflowError, TypeError) as e:
        # e.g. a timestamp such as 2024-99-99, or an integer too long to convert
        raise YAMLValueError(f"a value cannot be read: {shorten(str(e).splitlines()[0])}") from None
    finally:
        loader.dispose()


def describe(e: yaml.YAMLError) -> str:
    """One line: 'not valid YAML at line N (problem)' or the refusal's reason."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    if isinstance(e, YAMLValueError):
        return f"not valid YAML ({e.problem})"
    if isinstance(e, YAMLLimitError):
        return f"refused{where}: {e.problem}"
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return f"not valid YAML{where} ({shorten(str(problem), 200)})"


def read_text(path: str | os.PathLike, *, encoding: str = "utf-8") -> str:
    """A YAML file's text, refused (by its size on disk) before any of it is read."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise RejectedFileError("no such file", source=str(p)) from None
    if p.is_file():
        try:
            _check_size(size)
        except YAMLLimitError as e:
            raise RejectedFileError(f"refused: {e.problem}", source=str(p)) from None
    try:
        return p.read_text(encoding)
    except UnicodeDecodeError:
        raise RejectedFileError("not UTF-8 text", source=str(p)) from None
    except IsADirectoryError:
        raise RejectedFileError("is a folder, not a file", source=str(p)) from None


def load_file(path: str | os.PathLike, *, encoding: str = "utf-8") -> Any:
    """Read and parse a user's YAML file; any failure is one RejectedFileError naming it."""
    text = read_text(path, encoding=encoding)
    try:
        return safe_load(text)
    except yaml.YAMLError as e:
        raise RejectedFileError(describe(e), source=str(path)) from None


def shorten(value: Any, limit: int = MAX_QUOTED) -> str:
    """``str(value)`` cut to ``limit`` characters, saying how much was left out."""
    s = str(value)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}… ({len(s) - limit:,} more characters)"


def quote(value: Any, limit: int = MAX_QUOTED) -> str:
    """``repr(value)`` for a message, bounded: a 300 MB value (or a list of lists of
    lists, as aliases build) is shown as its first characters and items, never whole."""
    return shorten(_REPR.repr(value), limit)


_REPR = reprlib.Repr()
_REPR.maxstring = MAX_QUOTED
_REPR.maxother = MAX_QUOTED
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3


def type_name(value: Any) -> str:
    """A short name of a YAML value's type for "expected a list, got int"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "text"
    return type(value).__name__
