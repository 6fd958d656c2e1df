"""Keys declared once on dataclass fields: the walker that reads them, and the README tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.config import PipelineSpec, Project
from pipeline.config_keys import (
    STRING,
    STRING_LIST,
    key,
    key_rows,
    key_table,
    list_of,
    read_section,
)
from pipeline.config_rules import POSITIVE_DURATION
from pipeline.errors import ConfigError
from pipeline.key_tables import TABLES, main, marked_files, with_tables
from pipeline.yamldoc import YamlDoc

README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass(frozen=True)
class Notify:
    url: str = field(metadata=key(STRING, required=True, doc="where a notice goes"))
    on: tuple[str, ...] = field(default=("failed",), metadata=key(
        STRING_LIST, doc="the events that send one"))


@dataclass(frozen=True)
class Build:
    """Keys of a kind the next features add, declared the way the pipeline's are."""

    timeout: float = field(default=1800.0, metadata=key(POSITIVE_DURATION, doc="the build"))
    secrets: tuple[str, ...] = field(default=(), metadata=key(
        STRING_LIST, doc="project secrets a RUN may mount"))
    notify: tuple[Notify, ...] = field(default=(), metadata=key(
        list_of(Notify), doc="who hears of it"))


def read(text: str) -> Build:
    return read_section(Build, YamlDoc.parse(text, "x.yml").root())


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        read(text)
    return str(caught.value)


def test_a_declared_key_is_read_with_its_default_and_kind() -> None:
    assert read("") == Build()
    build = read("timeout: 30m\nsecrets: [NPM_TOKEN]\nnotify:\n  - url: json://h/p\n"
                 "  - {url: ntfy://t, on: [failed, fixed]}\n")
    assert build == Build(timeout=1800.0, secrets=("NPM_TOKEN",), notify=(
        Notify(url="json://h/p"), Notify(url="ntfy://t", on=("failed", "fixed"))))


def test_a_declared_key_is_checked_with_file_line_and_path() -> None:
    assert error_of("timeout: 0\n") == "x.yml:1: timeout: must be greater than 0"
    assert error_of("timeout: soon\n") == (
        'x.yml:1: timeout: "soon" is not a duration (use 90s, 10m, 1h)')
    assert error_of("notify:\n  - on: [failed]\n") == "x.yml:2: notify[0].url: is required"
    assert error_of("notify:\n  - {url: x, when: always}\n") == (
        "x.yml:2: notify[0].when: unknown key (allowed here: url, on)")
    assert error_of("timeout: 1m\nretries: 3\n") == (
        "x.yml:2: retries: unknown key (allowed here: timeout, secrets, notify)")


def test_the_table_lists_each_key_with_its_kind_default_and_doc() -> None:
    assert key_table(Build).splitlines() == [
        "| key | value | default | what it is |",
        "| --- | --- | --- | --- |",
        "| `timeout` | duration > 0 | `30m` | the build |",
        "| `secrets` | list of strings | none | project secrets a RUN may mount |",
        "| `notify` | list of mappings |  | who hears of it |",
        "| `notify[].url` | string | required | where a notice goes |",
        "| `notify[].on` | list of strings | `failed` | the events that send one |",
    ]


@pytest.mark.parametrize("declared", [PipelineSpec, Project])
def test_every_key_has_one_line_of_doc(declared: type) -> None:
    rows = list(key_rows(declared))
    assert rows
    for row in rows:
        assert row.doc and "\n" not in row.doc, row.key
        assert row.value, row.key


def test_the_readme_tables_are_the_declarations() -> None:
    text = README.read_text()
    assert sorted(marked_files(text)) == sorted(TABLES)
    assert with_tables(text) == text, (
        "README.md's tables of keys differ from pipeline/model.py: "
        "run `python -m pipeline.key_tables README.md`")


def test_the_tables_are_written_anew_and_a_missing_one_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- keys of .pushdock.yml: made -->\n| stale |\n"
                      "<!-- end of keys -->\ntail\n")
    assert main([str(readme)]) == 1  # no table of the project file's keys
    assert readme.read_text() == (f"# x\n<!-- keys of .pushdock.yml: made -->\n\n"
                                  f"{key_table(PipelineSpec)}\n<!-- end of keys -->\ntail\n")
