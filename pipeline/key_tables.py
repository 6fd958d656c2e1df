"""The README's tables of config keys, made from their declarations so the two cannot drift.

`python -m pipeline.key_tables [README.md]` rewrites each table between its markers:
`<!-- keys of FILE: ... -->` and `<!-- end of keys -->`; tests/test_key_tables.py fails
when the README's tables are not what this makes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pipeline.config import PipelineSpec, Project
from pipeline.config_keys import key_table

TABLES: dict[str, type] = {"pipelines.d/<project>.yml": Project, ".pushdock.yml": PipelineSpec}
_BLOCK = re.compile(r"(?P<start><!-- keys of (?P<file>\S+?): [^\n]*-->\n)(?P<table>.*?)"
                    r"(?P<end><!-- end of keys -->)", re.DOTALL)
MARKER = "generated from pipeline/model.py by `python -m pipeline.key_tables`"


def with_tables(text: str) -> str:
    """`text` with each marked table made anew; a marker naming no known file is an error."""

    def table(match: re.Match[str]) -> str:
        declared = TABLES.get(match.group("file"))
        if declared is None:
            raise KeyError(f"no table of keys for {match.group('file')}")
        return f"{match.group('start')}\n{key_table(declared)}\n{match.group('end')}"

    return _BLOCK.sub(table, text)


def marked_files(text: str) -> list[str]:
    return [match.group("file") for match in _BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    text = path.read_text()
    updated = with_tables(text)
    if updated != text:
        path.write_text(updated)
    missing = set(TABLES) - set(marked_files(text))
    for name in sorted(missing):
        print(f"{path}: no table of keys for {name} (add <!-- keys of {name}: {MARKER} --> "
              "and <!-- end of keys -->)", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
