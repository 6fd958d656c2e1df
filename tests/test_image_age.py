"""Which of a project's images is newest (pure): the one built last here, even when the
build came from the cache and the image says it was created long ago."""

from __future__ import annotations

from pipeline.deploy.apps import built_at


def test_the_tag_time_wins_over_the_created_time_a_cached_build_keeps() -> None:
    cached = {"Created": "2026-01-01T00:00:00Z",
              "Metadata": {"LastTagTime": "2026-12-02T10:00:00.5Z"}}
    fresh = {"Created": "2026-12-02T09:00:00Z",
             "Metadata": {"LastTagTime": "2026-12-02T09:00:00.1Z"}}
    assert sorted([fresh, cached], key=built_at, reverse=True) == [cached, fresh]


def test_an_image_never_tagged_falls_back_to_its_created_time() -> None:
    assert built_at({"Created": "2026-12-02T09:00:00Z",
                     "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}) == (
        "2026-12-02T09:00:00.000000000")
    assert built_at({"Created": "2026-12-02T09:00:00Z"}) == "2026-12-02T09:00:00.000000000"


def test_fractions_of_any_length_sort_as_times() -> None:
    # The engine cuts trailing zeros: as text ".05Z" comes after ".050547365Z" ("Z" > "0"),
    # though it is the earlier time.
    earlier = {"Metadata": {"LastTagTime": "2026-12-02T09:00:00.05Z"}}
    later = {"Metadata": {"LastTagTime": "2026-12-02T09:00:00.050547365Z"}}
    assert built_at(later) > built_at(earlier)
