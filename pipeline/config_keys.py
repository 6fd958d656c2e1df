"""Config keys declared once, on the dataclass field each one fills: its kind (how its YAML
is read), its default, an optional check and one line of doc. `read_section` reads a YAML
section into any dataclass declared so, refusing keys it does not declare; the parsers,
`pushdock check` and the README's tables of keys (`key_table`) all come from there."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.units import duration_text, size_text

if TYPE_CHECKING:
    from pipeline.yamldoc import Section

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# (section, key, default) -> the key's value; a wrong value raises the section's ConfigError.
Reader = Callable[["Section", str, Any], Any]
# A value as read -> what is wrong with it (the message after `file:line: key:`), or None.
Check = Callable[[Any], "str | None"]
# A section and what was read from it -> raises its ConfigError on what no one key shows.
SectionCheck = Callable[["Section", Any], None]

_KEY = "pushdock.key"  # the name of a field's declaration in its metadata


def _plain(value: Any) -> str:
    if value is None or value == "" or value == {} or value == ():
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


@dataclass(frozen=True)
class Kind:
    """What a key holds: how its YAML is read, and how the README's tables write it."""

    name: str  # the tables' "value" column
    read: Reader
    show: Callable[[Any], str] = _plain  # a default as the tables write it; "" for none
    of: type | None = None  # the dataclass of a nested section, list item or map entry
    child: str = "."  # how the path of a nested key goes on: ".", "[].", ".<name>."
    expand: bool = True  # whether the tables list the nested keys too


@dataclass(frozen=True)
class Key:
    """The declaration of one key, kept in its field's metadata."""

    kind: Kind
    doc: str
    name: str = ""  # as written in YAML, when it is not the field's name
    required: str = ""  # the error when the key is missing or null; "" when it is optional
    shown: str = ""  # the default as the tables write it, when the place supplies it


def key(kind: Kind, *, doc: str, name: str = "", required: bool | str = False,
        shown: str = "") -> Mapping[str, Key]:
    """The metadata that makes a dataclass field a config key: `field(default=...,
    metadata=key(...))`. The field's default is the key's; a field without one is `required`
    or takes the default that `read_section` is given (`shown` says what it is)."""
    message = "is required" if required is True else (required or "")
    return {_KEY: Key(kind, doc, name, message, shown)}


def _declared(cls: type) -> Iterator[tuple[Field[Any], Key]]:
    for each in fields(cls):
        declared = each.metadata.get(_KEY)
        if declared is not None:
            yield each, declared


def _default(each: Field[Any]) -> Any:
    if each.default is not MISSING:
        return each.default
    if each.default_factory is not MISSING:
        return each.default_factory()
    return None


def read_section(cls: type[T], section: Section, given: Mapping[str, Any] | None = None) -> T:
    """`cls` from a YAML mapping: its declared keys, and no others, read in their order.
    `given` holds the values of fields that are no keys (a service's name, from its place in
    a map) and the defaults that depend on the place (a step's `step-N`)."""
    given = given or {}
    declared = list(_declared(cls))
    section.only(*(declaration.name or each.name for each, declaration in declared))
    values = dict(given)
    for each, declaration in declared:
        default = given[each.name] if each.name in given else _default(each)
        values[each.name] = read_key(section, declaration.name or each.name, declaration,
                                     default)
    return cls(**values)


def read_key(section: Section, name: str, declaration: Key, default: Any) -> Any:
    if declaration.required and section.data.get(name) is None:
        raise section.error(name, declaration.required)
    return declaration.kind.read(section, name, default)


STRING = Kind("string", lambda section, name, default: section.string(name, default))
# An empty string is no value: the key's default, None, stands.
OPTIONAL_STRING = Kind("string", lambda section, name, default: section.string(name) or None)
BOOLEAN = Kind("true or false", lambda section, name, default: section.boolean(name, default))
NUMBER = Kind("number > 0", lambda section, name, default: section.number(name, default))
DURATION = Kind("duration", lambda section, name, default: section.duration(name, default),
                show=duration_text)
SIZE = Kind("size", lambda section, name, default: section.size(name, default), show=size_text)
STRING_MAP = Kind("map of strings", lambda section, name, default: section.string_map(name))
STRING_LIST = Kind("list of strings",
                   lambda section, name, default: section.string_list(name, default))


def integer(minimum: int = 0) -> Kind:
    return Kind(f"whole number ≥ {minimum}",
                lambda section, name, default: section.integer(name, default, minimum=minimum))


def checked(kind: Kind, check: Check, name: str) -> Kind:
    """`kind`, whose values (but None) must also pass `check`; `name` is what the tables
    call such a value."""

    def read(section: Section, key_name: str, default: Any) -> Any:
        value = kind.read(section, key_name, default)
        problem = None if value is None else check(value)
        if problem:
            raise section.error(key_name, problem)
        return value

    return replace(kind, name=name, read=read)


def one_of(choices: type[E]) -> Kind:
    names = ", ".join(choice.value for choice in choices)

    def read(section: Section, name: str, default: E) -> E:
        value = section.string(name, default.value)
        try:
            return choices(value)
        except ValueError:
            raise section.error(name, f'"{value}" is not one of {names}') from None

    return Kind(f"one of {names}", read, show=lambda choice: choice.value)


def mapping_of(cls: type, check: SectionCheck | None = None) -> Kind:
    """A nested section read into `cls`; `check` looks at it whole once it is read."""

    def read(section: Section, name: str, default: Any) -> Any:
        inner = section.section(name)
        value = read_section(cls, inner)
        if check is not None:
            check(inner, value)
        return value

    return Kind("mapping", read, of=cls)


def string_or_mapping_of(cls: type, field_name: str) -> Kind:
    """A nested section read into `cls`, or a string that stands for `{field_name: string}`
    (`release: migrate` for `release: {run: migrate}`); null or missing: None."""

    def read(section: Section, name: str, default: Any) -> Any:
        value = section.data.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return read_section(cls, section.sub((*section.path, name), {field_name: value}))
        return read_section(cls, section.section(name))

    return Kind("string, or mapping", read, of=cls)


def optional_mapping_of(cls: type, name: str, *, expand: bool = False) -> Kind:
    """A nested section read into `cls` when it is there and not null, else None; unless
    `expand`, the tables name it and do not list its keys (they have a table of their own)."""

    def read(section: Section, key_name: str, default: Any) -> Any:
        if section.data.get(key_name) is None:
            return None
        return read_section(cls, section.section(key_name))

    return Kind(name, read, of=cls, expand=expand)


def list_of(cls: type, given: Callable[[int], Mapping[str, Any]] | None = None) -> Kind:
    """A list of mappings, each read into `cls`; `given(index)` as `read_section` takes it."""

    def read(section: Section, name: str, default: Any) -> tuple[Any, ...]:
        return tuple(read_section(cls, section.sub(path, raw),
                                  given(index) if given else None)
                     for index, (path, raw) in enumerate(section.items(name)))

    return Kind("list of mappings", read, of=cls, child="[].")


def map_of(cls: type, name_field: str, check_name: Check) -> Kind:
    """A mapping of names to mappings, each read into `cls` with its name in `name_field`;
    a null entry is an empty one."""

    def read(section: Section, name: str, default: Any) -> tuple[Any, ...]:
        entries = section.section(name)
        values = []
        for entry_name, raw in entries.data.items():
            problem = check_name(entry_name)
            if problem:
                raise entries.error(entry_name, problem)
            entry = entries.sub((*entries.path, entry_name), {} if raw is None else raw)
            values.append(read_section(cls, entry, {name_field: entry_name}))
        return tuple(values)

    return Kind("map of names to mappings", read, of=cls, child=".<name>.")


@dataclass(frozen=True)
class Row:
    """One key as the README's tables list it."""

    key: str
    value: str
    default: str
    doc: str


def key_rows(cls: type, prefix: str = "") -> Iterator[Row]:
    for each, declaration in _declared(cls):
        path = prefix + (declaration.name or each.name)
        yield Row(path, declaration.kind.name, _default_text(each, declaration),
                  declaration.doc)
        kind = declaration.kind
        if kind.of is not None and kind.expand:
            yield from key_rows(kind.of, path + kind.child)


def _default_text(each: Field[Any], declaration: Key) -> str:
    if declaration.required:
        return "required"
    if declaration.shown:
        return declaration.shown
    if declaration.kind.of is not None and declaration.kind.expand:
        return ""  # its keys have rows of their own
    text = declaration.kind.show(_default(each))
    return f"`{text}`" if text else "none"


def key_table(cls: type) -> str:
    """The Markdown table of every key `cls` declares, nested ones included."""
    lines = ["| key | value | default | what it is |", "| --- | --- | --- | --- |"]
    for row in key_rows(cls):
        cells = (f"`{row.key}`", row.value, row.default, row.doc)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
