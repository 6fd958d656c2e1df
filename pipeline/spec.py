"""`.pushdock.yml` (untrusted, from the repo) → PipelineSpec, with file:line: key errors.

Its keys, their defaults and checks are declared on the dataclasses of pipeline/config.py."""

from __future__ import annotations

from pipeline.config import PipelineSpec
from pipeline.config_keys import read_section
from pipeline.yamldoc import YamlDoc

SPEC_FILENAME = ".pushdock.yml"


def parse_spec(text: str | bytes, filename: str = SPEC_FILENAME) -> PipelineSpec:
    return read_section(PipelineSpec, YamlDoc.parse(text, filename).root())
