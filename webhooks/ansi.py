"""ANSI color codes in log lines → safe HTML: the text is escaped first, then spans added."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_OTHER_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
_COLORS = {30: "black", 31: "red", 32: "green", 33: "yellow", 34: "blue", 35: "magenta",
           36: "cyan", 37: "white", 90: "grey", 91: "red", 92: "green", 93: "yellow",
           94: "blue", 95: "magenta", 96: "cyan", 97: "white"}


def strip_ansi(line: str) -> str:
    return _OTHER_ESCAPES.sub("", _SGR.sub("", line))


def ansi_to_html(line: str) -> Markup:
    """Bold and the 16 foreground colors become classed spans; everything else is text."""
    line = _OTHER_ESCAPES.sub("", line)
    out: list[str] = []
    classes: list[str] = []
    position = 0
    for match in _SGR.finditer(line):
        out.append(str(escape(line[position:match.start()])))
        position = match.end()
        if classes:
            out.append("</span>")
        codes = [int(c) for c in match.group(1).split(";") if c.isdigit()] or [0]
        for code in codes:
            if code == 0:
                classes = []
            elif code == 1:
                classes = [c for c in classes if c != "ansi-bold"] + ["ansi-bold"]
            elif code in _COLORS:
                classes = [c for c in classes if not c.startswith("ansi-fg")]
                classes.append(f"ansi-fg-{_COLORS[code]}")
            elif code == 39:
                classes = [c for c in classes if not c.startswith("ansi-fg")]
        if classes:
            out.append(f'<span class="{" ".join(classes)}">')
    out.append(str(escape(line[position:])))
    if classes:
        out.append("</span>")
    return Markup("".join(out))
