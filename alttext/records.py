"""Records that cross process boundaries: pickled by their fields, positionally.

The scan workers hand back findings and ``fix``'s image records by the thousand. A frozen,
slotted dataclass pickles through a generic ``__getstate__``/``__setstate__`` pair that
looks its fields up for every object; pickling it as ``(cls, (field values...))`` costs
half as much each way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def compact_pickle(cls: type[T]) -> type[T]:
    """Class decorator for a dataclass: pickle instances as their class and field values."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def __reduce__(self: Any) -> tuple[type[T], tuple[Any, ...]]:
        return cls, tuple(getattr(self, name) for name in names)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls
