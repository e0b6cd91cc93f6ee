"""The one YAML loader of the project: safe, bounded, line-numbered.

It rejects aliases (and so "billion laughs"), duplicate keys, merge keys and every tag that is not
plain YAML data (python tags included); it bounds the size of the text and the depth of nesting
(PyYAML's own RecursionError on deep nesting is not a YAMLError, so depth is checked as the
document is composed). Mappings and sequences come back as `YMap` / `YList`, which remember the
line of every entry so that later checks can say `file:line`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from engine.errors import LoadError, Problem

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64


class YMap(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int
    lines: dict[Any, int]


class YList(list[Any]):
    """A sequence that knows its own line and the line of each element (1-based)."""

    line: int
    lines: list[int]


def line_of(container: object, key: object = None) -> int | None:
    """The line of `container[key]` (or of the container itself), when the loader recorded it."""
    if key is not None:
        if isinstance(container, YMap):
            return container.lines.get(key, container.line)
        if isinstance(container, YList) and isinstance(key, int) and 0 <= key < len(container.lines):
            return container.lines[key]
    return getattr(container, "line", None)


class _Refused(Exception):
    def __init__(self, line: int, message: str, fix: str) -> None:
        super().__init__(message)
        self.line, self.message, self.fix = line, message, fix


class _Guard(Composer):
    """Composes the node tree from parser events, refusing aliases and nesting past MAX_DEPTH."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            event = self.peek_event()  # type: ignore[attr-defined]
            raise _Refused(
                event.start_mark.line + 1,
                "YAML aliases (*name) are not allowed",
                "write the value out in full instead of referring to an anchor",
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            event = self.peek_event()  # type: ignore[attr-defined]
            raise _Refused(
                event.start_mark.line + 1,
                f"the document nests deeper than {MAX_DEPTH} levels",
                "flatten the structure",
            )
        try:
            node: Node | None = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:  # pragma: no cover  (PyYAML returns a node here)
            raise _Refused(1, "the document is empty", "write the document's keys")
        return node


class _PyLoader(Reader, Scanner, Parser, _Guard, SafeConstructor, Resolver):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class _CLoader(_Guard, SafeConstructor, Resolver, CParser):
        # libyaml scans and parses (8x faster on a 10,000-code value set); our Python composer
        # still sees every event, so aliases and depth are checked the same way.
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _Loader: type[_PyLoader] | type[_CLoader] = _CLoader
else:  # pragma: no cover  (PyYAML built without libyaml)
    _Loader = _PyLoader


_PLAIN_SCALARS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)


def _build(loader: Any, node: Node) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode):
        if node.tag not in _PLAIN_SCALARS:  # !!binary, !!python/..., !custom: not plain data
            raise _Refused(line, f"unsupported YAML tag {node.tag!r}", "use plain YAML values (no !tags)")
        try:
            return loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise _Refused(
                line, f"unsupported YAML tag {node.tag!r}", "use plain YAML values (no !tags)"
            ) from exc
        except ValueError:  # a timestamp-shaped value that is no real date (2026-02-30)
            raise _Refused(
                line, f"'{node.value}' is not a real date", "write a valid date as YYYY-MM-DD"
            ) from None
    if isinstance(node, SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise _Refused(line, f"unsupported YAML tag {node.tag!r}", "use a plain YAML list")
        items = YList(_build(loader, child) for child in node.value)
        items.line = line
        items.lines = [child.start_mark.line + 1 for child in node.value]
        return items
    if isinstance(node, MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise _Refused(line, f"unsupported YAML tag {node.tag!r}", "use a plain YAML mapping")
        mapping = YMap()
        mapping.line = line
        mapping.lines = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(key_line, "YAML merge keys (<<) are not allowed", "write the keys out in full")
            key = _build(loader, key_node)
            if isinstance(key, list | dict):
                raise _Refused(key_line, "a mapping key must be a plain value", "use a string key")
            if key in mapping:
                raise _Refused(
                    key_line,
                    f"duplicate key {key!r} (first on line {mapping.lines[key]})",
                    "remove or rename one of them",
                )
            mapping[key] = _build(loader, value_node)
            mapping.lines[key] = key_line
        return mapping
    raise _Refused(line, "unsupported YAML node", "use plain YAML data")  # pragma: no cover


def read_document(path: str | Path) -> bytes:
    """The bytes of a document file; LoadError (naming the file) when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise LoadError(
            [Problem(str(path), None, f"cannot read the file ({exc.strerror})", "check the path")]
        ) from None


def load_yaml(text: str | bytes, filename: str = "<string>", max_bytes: int = MAX_BYTES) -> Any:
    """Parse one YAML document safely; raise LoadError (with file:line) on anything refused."""
    size = len(text if isinstance(text, bytes) else text.encode("utf-8"))
    if size > max_bytes:
        raise LoadError(
            [
                Problem(
                    filename, None, f"the file is {size} bytes, over the limit of {max_bytes}", "split it up"
                )
            ]
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LoadError(
                [Problem(filename, None, "the file is not UTF-8 text", "save it as UTF-8")]
            ) from exc
    try:
        return _parse(_Loader, text)
    except yaml.YAMLError:
        if _Loader is _PyLoader:
            error: Exception = sys.exc_info()[1]  # type: ignore[assignment]
        else:
            # libyaml's messages are terser ("found character that cannot start any token"):
            # a document that fails is parsed again by PyYAML, whose messages name the character.
            # libyaml 0.2.5 (PyYAML 6.0.4's wheels) also stops at 1,000 nested brackets itself; PyYAML
            # then meets our own depth bound first, and that is the problem to report
            try:
                return _parse(_PyLoader, text)
            except (yaml.YAMLError, _Refused, RecursionError) as again:
                error = again
    except _Refused as exc:
        raise LoadError([Problem(filename, exc.line, exc.message, exc.fix)]) from None
    except RecursionError:
        raise LoadError(
            [Problem(filename, None, "the document nests too deeply", "flatten the structure")]
        ) from None
    raise _as_load_error(error, text, filename)


def _parse(loader_class: Any, text: str) -> Any:
    loader: Any = None
    try:
        loader = loader_class(text)  # the reader checks the characters here: inside the try
        node = loader.get_single_node()
        if node is None:
            raise _Refused(1, "the document is empty", "write the document's keys")
        return _build(loader, node)
    finally:
        if loader is not None:
            loader.dispose()


def _as_load_error(exc: Exception, text: str, filename: str) -> LoadError:
    if isinstance(exc, _Refused):
        return LoadError([Problem(filename, exc.line, exc.message, exc.fix)])
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        return LoadError([Problem(filename, line, f"invalid YAML: {what}", "check indentation and quoting")])
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        what = f"the text holds a character YAML does not allow ({exc.reason})"
        return LoadError([Problem(filename, line, what, "remove it")])
    if isinstance(exc, RecursionError):
        return LoadError([Problem(filename, None, "the document nests too deeply", "flatten the structure")])
    return LoadError([Problem(filename, None, f"invalid YAML: {exc}", "check the syntax")])
