"""The spool behind reports: order, equality and bounded memory for any number of items."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.rules.model import Finding, Severity
from alttext.spool import Spool


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers() | st.text(max_size=5)), in_memory=st.integers(0, 5))
def test_items_come_back_in_order_however_they_are_held(
    items: list[int | str], in_memory: int
) -> None:
    spool: Spool[int | str] = Spool(in_memory=in_memory)
    spool.extend(items)
    assert list(spool) == items
    assert list(spool) == items  # iterable again
    assert len(spool) == len(items)
    assert spool == items
    assert bool(spool) is bool(items)


def test_two_iterations_at_once_and_appends_between_them() -> None:
    spool: Spool[int] = Spool(range(5000), in_memory=10)
    assert spool.spilled > 0
    pairs = zip(spool, spool, strict=True)
    assert all(a == b for a, b in pairs)
    first = iter(spool)
    head = [next(first) for _ in range(3000)]
    spool.extend(range(5000, 7000))  # spills more while an iteration is under way
    assert head + list(first) == list(range(7000))


def _finding(number: int) -> Finding:
    return Finding(
        file=f"page-{number}.html",
        line=number,
        column=1,
        rule="image-alt",
        severity=Severity.ERROR,
        message="Image has no alt attribute and no other accessible name",
        element="img",
        src=f"/images/{number}.png",
        snippet=f'<img src="/images/{number}.png" width="800" height="600" class="photo">',
    )


def test_memory_stays_flat_as_the_report_grows() -> None:
    def peak(count: int) -> int:
        tracemalloc.start()
        spool: Spool[Finding] = Spool()
        spool.extend(_finding(n) for n in range(count))
        assert sum(1 for _ in spool) == count
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(10_000), peak(100_000)
    assert large < small * 1.5, (small, large)  # 10x the findings, not 10x the memory
