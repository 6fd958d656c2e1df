from __future__ import annotations

from webhooks.ansi import ansi_to_html, strip_ansi
from webhooks.graphics import badge_svg, history_chart


def test_colors_become_spans_and_text_is_escaped() -> None:
    html = str(ansi_to_html("\x1b[1;31mFAIL\x1b[0m <b>&</b>"))
    assert html == '<span class="ansi-bold ansi-fg-red">FAIL</span> &lt;b&gt;&amp;&lt;/b&gt;'
    assert str(ansi_to_html("\x1b[2K\x1b[32mok")) == '<span class="ansi-fg-green">ok</span>'
    assert str(ansi_to_html('"><script>x</script>')) == \
        "&#34;&gt;&lt;script&gt;x&lt;/script&gt;"
    assert strip_ansi("\x1b[33mwarn\x1b[0m\x1b[K") == "warn"


def test_badge_and_chart_escape_names() -> None:
    svg = badge_svg("<p>", "failed", "#d6336c")
    assert "&lt;p&gt;" in svg and "<p>" not in svg
    assert str(history_chart([])) == ""
