"""Parse ``srcset`` attributes and pick the candidate a captioner should see.

The parser follows the HTML standard's "parse a srcset attribute" algorithm
(https://html.spec.whatwg.org/multipage/images.html#parse-a-srcset-attribute): URLs may
contain commas, descriptors are ``<int>w``, ``<float>x`` or the future-compatible
``<int>h``, and an invalid candidate is dropped rather than failing the whole attribute.
It never raises on any input string.

Choosing a candidate: a browser picks by viewport and pixel density; we pick for a
captioning model. Models look at a few hundred to ~1500 pixels a side, so the largest
candidate only costs bandwidth and upload time, while the smallest may be a thumbnail too
blurry to describe. We therefore take the *smallest candidate that is at least
``target_width`` pixels wide* (default 1024), or the largest one when none is that wide.
For density descriptors (no widths known) the same rule applies with ``target_density``
(default 2x, i.e. roughly a retina-size image). Width candidates are preferred over density
ones when an attribute mixes both (invalid HTML, but it happens), because a width is a
fact about the file while a density depends on the unknown layout size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_TARGET_DENSITY",
    "DEFAULT_TARGET_WIDTH",
    "Candidate",
    "best",
    "has_candidates",
    "parse_srcset",
]

DEFAULT_TARGET_WIDTH = 1024
DEFAULT_TARGET_DENSITY = 2.0

# ASCII whitespace as the HTML standard defines it (no vertical tab, no Unicode spaces).
_WS = "\t\n\f\r "
_INT = re.compile(r"[0-9]+\Z")
# "valid floating-point number": optional minus, digits and/or fraction, optional exponent.
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One image candidate of a ``srcset``.

    Attributes:
        url: the candidate's URL exactly as written (not resolved).
        width: the ``w`` descriptor, when given.
        density: the ``x`` descriptor; 1.0 when the candidate has no descriptor at all.
    """

    url: str
    width: int | None = None
    density: float | None = None


def parse_srcset(value: str) -> list[Candidate]:
    """Parse a ``srcset`` value into its valid candidates, in document order.

    Args:
        value: the attribute value.

    Returns:
        The candidates; invalid ones (bad or conflicting descriptors) are left out.
    """
    candidates: list[Candidate] = []
    pos = 0
    end = len(value)
    while True:
        # Splitting loop: skip whitespace and stray commas between candidates.
        while pos < end and (value[pos] in _WS or value[pos] == ","):
            pos += 1
        if pos >= end:
            return candidates
        start = pos
        while pos < end and value[pos] not in _WS:
            pos += 1
        url = value[start:pos]
        descriptors: list[str] = []
        if url.endswith(","):
            # "a.png,b.png 2x": the comma ends the candidate; it has no descriptors.
            url = url.rstrip(",")
        else:
            pos = _tokenize_descriptors(value, pos, descriptors)
        candidate = _parse_descriptors(url, descriptors)
        if candidate is not None:
            candidates.append(candidate)


def has_candidates(value: str) -> bool:
    """Whether ``value`` names any candidate at all, valid or not.

    Tells a ``srcset`` whose every candidate was invalid (worth saying so) from one that
    is empty: anything but whitespace and commas starts a candidate.
    """
    return bool(value.strip(_WS + ","))


def _tokenize_descriptors(value: str, pos: int, out: list[str]) -> int:
    """Collect the descriptors after a URL into ``out``; return the position after them."""
    end = len(value)
    while pos < end and value[pos] in _WS:
        pos += 1
    current: list[str] = []
    in_parens = False
    while pos < end:
        char = value[pos]
        pos += 1
        if in_parens:
            current.append(char)
            if char == ")":
                in_parens = False
        elif char in _WS:
            if current:
                out.append("".join(current))
                current = []
            # "After descriptor" state: whitespace is skipped, anything else starts a new one.
            while pos < end and value[pos] in _WS:
                pos += 1
        elif char == ",":
            break
        else:
            current.append(char)
            if char == "(":
                in_parens = True
    if current:
        out.append("".join(current))
    return pos


def _parse_descriptors(url: str, descriptors: Sequence[str]) -> Candidate | None:
    """Apply the standard's descriptor rules; ``None`` when the candidate is invalid."""
    width: int | None = None
    density: float | None = None
    height: int | None = None
    for descriptor in descriptors:
        number, kind = descriptor[:-1], descriptor[-1:]
        if kind == "w" and _INT.match(number):
            if width is not None or density is not None:
                return None
            width = int(number)
            if width == 0:
                return None
        elif kind == "x" and _FLOAT.match(number):
            if width is not None or density is not None or height is not None:
                return None
            density = float(number)
            # The standard drops only negatives; a 0x image is never chosen by a browser
            # either, and float() of a valid literal may be inf ("1e999x") or round to 0
            # ("1e-999x"): none of them says anything about the file.
            if not 0 < density < float("inf"):
                return None
        elif kind == "h" and _INT.match(number):
            if height is not None or density is not None:
                return None
            height = int(number)
            if height == 0:
                return None
        else:
            return None
    if height is not None and width is None:
        return None
    if width is None and density is None:
        density = 1.0
    return Candidate(url=url, width=width, density=density)


def best(
    candidates: Iterable[Candidate],
    *,
    target_width: int = DEFAULT_TARGET_WIDTH,
    target_density: float = DEFAULT_TARGET_DENSITY,
) -> Candidate | None:
    """Pick the candidate to caption: good enough, not needlessly huge.

    The smallest candidate at least ``target_width`` wide (else the widest); without width
    descriptors, the smallest at least ``target_density`` (else the densest). Ties go to the
    earlier candidate.

    Args:
        candidates: candidates in document order, possibly from several attributes.
        target_width: the width in pixels that is "good enough" for a captioner.
        target_density: the density that is good enough when no widths are known.

    Returns:
        The chosen candidate, or ``None`` when there are none.
    """
    pool = list(candidates)
    with_width = [c for c in pool if c.width is not None]
    if with_width:
        return _pick(with_width, [c.width or 0 for c in with_width], float(target_width))
    if pool:
        return _pick(pool, [c.density or 0.0 for c in pool], target_density)
    return None


def _pick(pool: Sequence[Candidate], sizes: Sequence[float], target: float) -> Candidate:
    """Smallest candidate of at least ``target``, else the largest; first wins ties."""
    big_enough = [(size, i) for i, size in enumerate(sizes) if size >= target]
    if big_enough:
        return pool[min(big_enough)[1]]
    # Largest size; among equals the earliest, hence the negated index in the key.
    return pool[max(range(len(pool)), key=lambda i: (sizes[i], -i))]
