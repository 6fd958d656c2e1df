"""`.pushdock.yml` (untrusted, from the repo) → PipelineSpec, with file:line: key errors.

Its keys, their defaults and checks are declared on the dataclasses of pipeline/config.py."""

from __future__ import annotations

from pathlib import Path

from pipeline.ceilings import Ceilings, check_ceilings
from pipeline.config import PipelineSpec
from pipeline.config_keys import read_section
from pipeline.errors import ConfigError
from pipeline.yamldoc import YamlDoc

SPEC_FILENAME = ".pushdock.yml"
# The file is untrusted: past this it is refused unread, before YAML takes its time and memory.
MAX_SPEC_BYTES = 256 * 1024


def parse_spec(text: str | bytes, filename: str = SPEC_FILENAME,
               ceilings: Ceilings | None = None) -> PipelineSpec:
    """The pipeline a `.pushdock.yml` describes; with `ceilings`, held to them too."""
    if len(text.encode() if isinstance(text, str) else text) > MAX_SPEC_BYTES:
        raise ConfigError(f"the file is larger than {MAX_SPEC_BYTES // 1024} KiB",
                          path=filename)
    doc = YamlDoc.parse(text, filename)
    root = doc.root()
    if "accessories" in root:
        # They outlive every deploy and hold the data: only the server's file says what runs.
        raise root.error("accessories", "accessories are declared in the project file on the "
                                        "server (pipelines.d/<project>.yml), not in the "
                                        "repository")
    spec = read_section(PipelineSpec, root)
    if ceilings is not None:
        check_ceilings(doc, spec, ceilings)
    return spec


def read_spec_file(path: Path) -> bytes:
    """The file's bytes, reading no more than one past the limit."""
    with path.open("rb") as file:
        return file.read(MAX_SPEC_BYTES + 1)
