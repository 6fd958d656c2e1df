"""YAML with line numbers: safe-load semantics, and typed reads whose errors say file:line: key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import yaml

from pipeline.errors import ConfigError
from pipeline.units import parse_duration, parse_size

Path = tuple[str | int, ...]
T = TypeVar("T")


def path_text(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class YamlDoc:
    """A parsed document and the line of every key and list item in it."""

    def __init__(self, data: Any, lines: dict[Path, int], filename: str) -> None:
        self.data = data
        self.lines = lines
        self.filename = filename

    @classmethod
    def parse(cls, text: str | bytes, filename: str) -> YamlDoc:
        loader = _Loader(text, filename)
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            raise ConfigError(f"invalid YAML: {exc.problem or exc}", path=filename,
                              line=line) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", path=filename) from None
        finally:
            loader.dispose()
        lines: dict[Path, int] = {}
        data = _convert(node, (), lines, filename) if node is not None else None
        return cls(data, lines, filename)

    def line(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, path: Path, message: str) -> ConfigError:
        key = path_text(path)
        return ConfigError(f"{key}: {message}" if key else message, path=self.filename,
                           line=self.line(path))

    def root(self) -> Section:
        if self.data is None:
            return Section(self, (), {})
        if not isinstance(self.data, dict):
            raise self.error((), "the file must be a mapping of keys")
        return Section(self, (), self.data)


# A file is read into plain data, so an alias is copied everywhere it stands: nested aliases
# (nine lists of nine aliases of the list before, nine deep) would make a billion values
# from a few hundred bytes. What aliases stand for is counted as they are composed.
ALIAS_BUDGET = 1000  # values that all the aliases of one file may stand for together
MAX_DEPTH = 64  # maps and lists inside each other; deeper would exhaust the stack


class _Loader(yaml.SafeLoader):
    """SafeLoader's composer, refusing (with the alias's line and key) an alias inside the
    value it names, aliases that stand for more than ALIAS_BUDGET values, and nesting past
    MAX_DEPTH."""

    def __init__(self, text: str | bytes, filename: str) -> None:
        super().__init__(text)
        self.filename = filename
        self._sizes: dict[yaml.Node, int] = {}  # values a node stands for, itself included
        self._open: list[str | None] = []  # anchors of the collections being composed
        self._path: list[str | int | None] = []
        self._aliased = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # `index` is the key node of a mapping's value, a list item's number, or None.
        self._path.append(index.value if isinstance(index, yaml.ScalarNode)
                          else index if isinstance(index, int) else None)
        try:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                self._count(event)
                return super().compose_node(parent, index)
            return self._compose(event, parent, index)
        finally:
            self._path.pop()

    def _compose(self, event: yaml.Event, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if isinstance(event, yaml.ScalarEvent):
            node = super().compose_node(parent, index)
            self._sizes[node] = 1
            return node
        if len(self._open) >= MAX_DEPTH:
            raise ConfigError(f"maps and lists are nested more than {MAX_DEPTH} deep",
                              path=self.filename, line=event.start_mark.line + 1)
        self._open.append(event.anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._open.pop()
        children = (node.value if isinstance(node, yaml.SequenceNode)
                    else [part for pair in node.value for part in pair])
        self._sizes[node] = 1 + sum(self._sizes[child] for child in children)
        return node

    def _count(self, event: yaml.AliasEvent) -> None:
        if event.anchor in self._open:
            raise self._refuse(event, f"alias *{event.anchor} is inside the value it names")
        node = self.anchors.get(event.anchor)
        if node is None:
            return  # the composer reports the undefined alias
        self._aliased += self._sizes[node]
        if self._aliased > ALIAS_BUDGET:
            raise self._refuse(event, f"aliases stand for more than {ALIAS_BUDGET} values "
                                      f"(at *{event.anchor}); write the values out instead")

    def _refuse(self, event: yaml.Event, message: str) -> ConfigError:
        where = path_text(tuple(part for part in self._path if part is not None))
        return ConfigError(f"{where or 'top level'}: {message}", path=self.filename,
                           line=event.start_mark.line + 1)


_COLLECTION_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map",
                    yaml.SequenceNode: "tag:yaml.org,2002:seq"}


def _convert(node: yaml.Node, path: Path, lines: dict[Path, int], filename: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    expected = _COLLECTION_TAGS.get(type(node))
    if expected is not None and node.tag != expected:
        raise ConfigError(f"{path_text(path) or 'top level'}: tag {node.tag} is not allowed",
                          path=filename, line=node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if (not isinstance(key_node, yaml.ScalarNode)
                    or key_node.tag == "tag:yaml.org,2002:merge"):
                raise ConfigError(f"{path_text(path) or 'top level'}: keys must be plain strings",
                                  path=filename, line=key_node.start_mark.line + 1)
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                raise ConfigError(f"{path_text(child)}: duplicate key", path=filename,
                                  line=key_node.start_mark.line + 1)
            lines[child] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, child, lines, filename)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, filename) for i, item in enumerate(node.value)]
    try:
        return yaml.SafeLoader(b"").construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path_text(path)}: {exc}", path=filename,
                          line=node.start_mark.line + 1) from None


class Section:
    """A mapping inside a YamlDoc; every read checks the type and names the key on error."""

    def __init__(self, doc: YamlDoc, path: Path, data: dict[str, Any]) -> None:
        self.doc = doc
        self.path = path
        self.data = data

    def error(self, key: str | int | None, message: str) -> ConfigError:
        return self.doc.error(self.path if key is None else (*self.path, key), message)

    def only(self, *allowed: str) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.error(key, f"unknown key (allowed here: {', '.join(allowed)})")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def section(self, key: str) -> Section:
        value = self.data.get(key)
        if value is None:
            return Section(self.doc, (*self.path, key), {})
        if not isinstance(value, dict):
            raise self.error(key, "must be a mapping")
        return Section(self.doc, (*self.path, key), value)

    def items(self, key: str) -> Iterator[tuple[Path, Any]]:
        value = self.data.get(key)
        if value is None:
            return iter(())
        if not isinstance(value, list):
            raise self.error(key, "must be a list")
        return (((*self.path, key, i), item) for i, item in enumerate(value))

    def sub(self, path: Path, value: Any) -> Section:
        if not isinstance(value, dict):
            raise self.doc.error(path, "must be a mapping")
        return Section(self.doc, path, value)

    def _read(self, key: str, default: T, convert: Callable[[Any], T], expected: str,
              required: bool) -> T:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.error(key, "is required")
            return default
        value = self.data[key]
        try:
            return convert(value)
        except (TypeError, ValueError):
            raise self.error(key, f"{_show(value)} is not {expected}") from None

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        return self._read(key, default, _as_str, "a string", required)

    def boolean(self, key: str, default: bool) -> bool:
        return self._read(key, default, _as_bool, "true or false", False)

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self._read(key, default, _as_int, "a whole number", False)
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self._read(key, default, _as_float, "a number", False)
        if value <= 0:
            raise self.error(key, "must be greater than 0")
        return value

    def duration(self, key: str, default: float) -> float:
        return self._read(key, default, parse_duration, "a duration (use 90s, 10m, 1h)", False)

    def size(self, key: str, default: int) -> int:
        return self._read(key, default, parse_size, "a size (use 256m, 1g)", False)

    def string_map(self, key: str) -> dict[str, str]:
        section = self.section(key)
        result: dict[str, str] = {}
        for name, value in section.data.items():
            if value is None or isinstance(value, dict | list):
                raise section.error(name, "must be a string, number or boolean")
            result[name] = _as_str(value)
        return result

    def string_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            raise self.error(key, "must be a list of strings")
        for i, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise self.doc.error((*self.path, key, i), "must be a string")
        return tuple(str(item) for item in value)


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _as_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(value)


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    return float(value)


