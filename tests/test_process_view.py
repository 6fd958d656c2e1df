"""The view of the live generation the workers publish, on data: each process's replicas'
lines merged by time, the last ones kept, and the app's output bounded however it prints."""

from __future__ import annotations

from pipeline.deploy.process_view import (
    LINE_MAX,
    PROCESS_BYTES,
    Member,
    ProcessView,
    TailLine,
    process_tails,
    split_stamp,
    within,
)
from pipeline.records.processes import view_from_json, view_to_json

WEB1 = Member("web", 1, "pushdock-shop-blue", "running", 0, sha="a" * 40)
WEB2 = Member("web", 2, "pushdock-shop-blue-web-2", "restarting", 2, sha="a" * 40)
WORKER = Member("worker", 1, "pushdock-shop-blue-worker-1", "running", 0, health="healthy")
MEMBERS = [WEB1, WEB2, WORKER]


def stamp(second: int, text: str) -> str:
    return f"2026-12-02T01:00:{second:02d}.000000000Z {text}"


def texts(tail) -> list[tuple[str, str]]:
    return [(line.replica, line.text) for line in tail.lines]


def test_a_stamped_line_splits_and_an_unstamped_one_is_kept_whole() -> None:
    assert split_stamp(stamp(7, "GET / 200")) == ("2026-12-02T01:00:07.000000000Z", "GET / 200")
    assert split_stamp("no stamp here") == ("", "no stamp here")
    assert split_stamp("") == ("", "")


def test_each_process_merges_its_replicas_lines_by_time_in_the_members_order() -> None:
    outputs = {"web.1": [stamp(1, "one"), stamp(4, "four")],
               "web.2": [stamp(2, "two"), stamp(4, "four too")],
               "worker.1": [stamp(3, "job done\r")]}
    web, worker = process_tails(outputs, MEMBERS)
    assert web.process == "web" and worker.process == "worker"
    # Same instant: web.1 before web.2, as the members are ordered.
    assert texts(web) == [("web.1", "one"), ("web.2", "two"), ("web.1", "four"),
                          ("web.2", "four too")]
    assert texts(worker) == [("worker.1", "job done")]


def test_only_the_last_lines_are_kept() -> None:
    outputs = {"web.1": [stamp(s, f"line {s}") for s in range(0, 40, 2)],
               "web.2": [stamp(s, f"line {s}") for s in range(1, 40, 2)]}
    (web,) = process_tails(outputs, [WEB1, WEB2], lines=5)
    assert [line.text for line in web.lines] == [f"line {s}" for s in range(35, 40)]


def test_a_process_without_output_has_an_empty_tail() -> None:
    _, worker = process_tails({"web.1": [stamp(1, "up")]}, MEMBERS)
    assert worker.lines == ()


def test_a_long_line_is_cut_and_says_so() -> None:
    (web,) = process_tails({"web.1": [stamp(1, "x" * (LINE_MAX * 10))]}, [WEB1])
    (line,) = web.lines
    assert line.text.startswith("x" * LINE_MAX) and "line cut" in line.text
    assert len(line.text) < LINE_MAX + 64


def test_a_process_tail_holds_no_more_than_its_bytes_newest_kept() -> None:
    many = [stamp(s % 60, f"{s:03d} " + "é" * 1000) for s in range(50)]  # ~2 KB each
    (web,) = process_tails({"web.1": sorted(many)}, [WEB1])
    size = sum(len(line.text.encode()) + 1 for line in web.lines)
    assert 0 < size <= PROCESS_BYTES and len(web.lines) == PROCESS_BYTES // 2005
    assert web.lines[-1].text == sorted(many)[-1].split(" ", 1)[1]


def test_all_processes_share_the_views_bytes() -> None:
    members = [Member(f"p{i}", 1, f"c{i}", "running", 0) for i in range(8)]
    outputs = {m.label: [stamp(s, "y" * 500) for s in range(50)] for m in members}
    tails = process_tails(outputs, members, view_bytes=8 * 2048)
    assert len(tails) == 8
    for tail in tails:
        assert sum(len(line.text) + 1 for line in tail.lines) <= 2048
        assert len(tail.lines) == 2048 // 501


def test_within_keeps_the_newest_lines_that_fit_in_order() -> None:
    lines = [TailLine("web.1", text) for text in ("aaaa", "bbbb", "cccc")]
    assert within(lines, 10) == lines[1:]
    assert within(lines, 4) == []


def test_a_view_reads_back_as_it_was_written() -> None:
    tails = process_tails({"web.1": [stamp(1, "\x1b[31mred\x1b[0m <b>")]}, MEMBERS)
    view = ProcessView(project="shop", sha="a" * 40, run="7", color="blue", at=1234.5,
                       members=tuple(MEMBERS), tails=tails)
    assert view_from_json(view_to_json(view)) == view
