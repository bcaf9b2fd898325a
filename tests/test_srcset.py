"""srcset parsing (HTML standard algorithm) and the captioner's candidate choice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alttext.images.srcset import Candidate, best, has_candidates, parse_srcset


def test_width_descriptors() -> None:
    assert parse_srcset("small.jpg 480w, large.jpg 1080w") == [
        Candidate("small.jpg", width=480),
        Candidate("large.jpg", width=1080),
    ]


def test_density_descriptors_and_default_density() -> None:
    assert parse_srcset("a.png, b.png 2x,c.png 1.5x") == [
        Candidate("a.png", density=1.0),
        Candidate("b.png", density=2.0),
        Candidate("c.png", density=1.5),
    ]


def test_url_with_commas_is_kept_whole() -> None:
    # A comma inside a URL is only a separator when it ends the URL token.
    value = "https://img.example/x,w_480/a.jpg 480w, https://img.example/x,w_960/a.jpg 960w"
    assert [c.url for c in parse_srcset(value)] == [
        "https://img.example/x,w_480/a.jpg",
        "https://img.example/x,w_960/a.jpg",
    ]


def test_trailing_commas_end_a_descriptorless_candidate() -> None:
    assert parse_srcset("a.png,, b.png 2x") == [
        Candidate("a.png", density=1.0),
        Candidate("b.png", density=2.0),
    ]
    # Without whitespace the commas are part of one URL, as the standard says.
    assert parse_srcset("a.png,,b.png 2x") == [Candidate("a.png,,b.png", density=2.0)]


def test_whitespace_variants() -> None:
    value = "\n  a.png\t1x ,\n\tb.png   2x  ,  "
    assert parse_srcset(value) == [Candidate("a.png", density=1.0), Candidate("b.png", density=2.0)]


@pytest.mark.parametrize(
    "value",
    [
        "a.png 0w",  # zero width
        "a.png -1x",  # negative density
        "a.png 10w 2x",  # width and density together
        "a.png 2x 3x",  # two densities
        "a.png 100h",  # height without width
        "a.png foo",  # unknown descriptor
        "a.png 1.5w",  # non-integer width
        "a.png 1e999x",  # infinite density
        "a.png 0x",  # zero density
        "a.png -0x",  # negative zero
        "a.png 0.0e5x",  # zero, written otherwise
        "a.png 1e-999x",  # rounds to zero
        "a.png 00w",  # zero width, written otherwise
        "a.png 1e308w",  # a width must be an integer
    ],
)
def test_invalid_candidates_are_dropped(value: str) -> None:
    assert parse_srcset(value + ", ok.png 2x") == [Candidate("ok.png", density=2.0)]


def test_height_with_width_is_accepted() -> None:
    assert parse_srcset("a.png 100w 50h") == [Candidate("a.png", width=100)]


def test_parenthesised_descriptor_does_not_split_on_comma() -> None:
    # A future-syntax descriptor with a comma inside parens invalidates only its candidate.
    assert parse_srcset("a.png (foo, bar) 2x, b.png 3x") == [Candidate("b.png", density=3.0)]


def test_empty_and_junk() -> None:
    assert parse_srcset("") == []
    assert parse_srcset(" , ,, ") == []


@given(st.text())
def test_parser_never_raises_on_arbitrary_text(value: str) -> None:
    for candidate in parse_srcset(value):
        assert candidate.url and candidate.url[0] not in " \t\n\f\r,"
        assert (candidate.width is None) != (candidate.density is None)
        assert candidate.width is None or candidate.width > 0
        assert candidate.density is None or 0 < candidate.density < float("inf")


@given(st.text())
def test_candidates_are_found_only_where_some_were_written(value: str) -> None:
    if parse_srcset(value):
        assert has_candidates(value)
    if not has_candidates(value):
        assert parse_srcset(value) == []


@given(
    st.lists(
        st.tuples(st.from_regex(r"[a-z]{1,8}\.png", fullmatch=True), st.integers(1, 5000)),
        min_size=1,
        max_size=8,
    )
)
def test_width_candidates_round_trip(items: list[tuple[str, int]]) -> None:
    value = ", ".join(f"{url} {width}w" for url, width in items)
    assert parse_srcset(value) == [Candidate(url, width=width) for url, width in items]


def test_best_takes_smallest_width_at_least_target() -> None:
    candidates = parse_srcset("s.jpg 320w, m.jpg 1200w, l.jpg 2400w, xl.jpg 4000w")
    assert best(candidates) == Candidate("m.jpg", width=1200)


def test_best_takes_largest_when_none_reach_target() -> None:
    candidates = parse_srcset("s.jpg 320w, m.jpg 800w, t.jpg 100w")
    assert best(candidates) == Candidate("m.jpg", width=800)


def test_best_density_prefers_two_x() -> None:
    assert best(parse_srcset("a.png, b.png 2x, c.png 3x")) == Candidate("b.png", density=2.0)
    assert best(parse_srcset("a.png, b.png 1.5x")) == Candidate("b.png", density=1.5)


def test_best_prefers_widths_over_densities_and_first_on_ties() -> None:
    assert best(parse_srcset("a.png 3x, b.png 300w")) == Candidate("b.png", width=300)
    assert best([Candidate("one", width=500), Candidate("two", width=500)]) == Candidate(
        "one", width=500
    )


def test_best_of_nothing() -> None:
    assert best([]) is None
