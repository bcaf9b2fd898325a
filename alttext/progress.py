"""Progress on long work: count, rate and ETA on a terminal, silence elsewhere.

Library code reports progress through a callback; this renderer is what the CLI plugs in.
It writes to stderr only when stderr is a TTY (never in CI logs or pipes).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line, self-overwriting progress display."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more items done and redraw at most ten times a second."""
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= 0.1 or self.done == self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            remaining = (self.total - self.done) / rate if rate else 0.0
            text = f"{self.label}: {self.done}/{self.total} ({rate:.1f}/s, ETA {remaining:.0f}s)"
        else:
            text = f"{self.label}: {self.done} ({rate:.1f}/s)"
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()

    def close(self) -> None:
        """Clear the line so the next output starts clean."""
        if self.enabled and self.done:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
