"""`.pushdock.yml` (untrusted, from the repo) → PipelineSpec, with file:line: key errors.

Its keys, their defaults and checks are declared on the dataclasses of pipeline/config.py."""

from __future__ import annotations

from pipeline.ceilings import Ceilings, check_ceilings
from pipeline.config import PipelineSpec
from pipeline.config_keys import read_section
from pipeline.yamldoc import YamlDoc

SPEC_FILENAME = ".pushdock.yml"


def parse_spec(text: str | bytes, filename: str = SPEC_FILENAME,
               ceilings: Ceilings | None = None) -> PipelineSpec:
    """The pipeline a `.pushdock.yml` describes; with `ceilings`, held to them too."""
    doc = YamlDoc.parse(text, filename)
    spec = read_section(PipelineSpec, doc.root())
    if ceilings is not None:
        check_ceilings(doc, spec, ceilings)
    return spec
