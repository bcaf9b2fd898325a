"""The CLI's signal handlers: Ctrl-C and SIGTERM raise in the main thread, but never in
the instant after ``Condition.__enter__`` took its lock, where the exception would leave
that lock held for ever (a Future nobody can finish, a run that cannot end)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

import pytest

from alttext.cli import Terminated, _signals_raise

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class _FrameGrabbingLock:
    """A lock for a Condition that records the frame that takes it: Condition.__enter__."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[FrameType] = []

    def acquire(self, *args: Any) -> bool:
        return self.lock.acquire(*args)

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> bool:
        self.frames.append(sys._getframe(1))
        return self.lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.lock.__exit__(*exc)


def _unguarded_frame(grabbing: _FrameGrabbingLock) -> FrameType:
    with threading.Condition(grabbing):  # type: ignore[arg-type]
        pass
    (frame,) = grabbing.frames
    assert frame.f_code is threading.Condition.__enter__.__code__
    return frame


def _until_raised(seconds: float = 2.0) -> None:
    """Run Python code (where pending signal handlers run) for a while."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.001)


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_a_signal_just_after_a_condition_took_its_lock_is_raised_after_the_with(
    signum: int, raised: type[BaseException]
) -> None:
    grabbing = _FrameGrabbingLock()
    frame = _unguarded_frame(grabbing)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _signals_raise():
            handler = signal.getsignal(signum)
            assert callable(handler)
            # As if the signal arrived there: the handler raises nothing in that frame...
            handler(signum, frame)
            # ...and the signal comes again, raised at the next safe point.
            with pytest.raises(raised):
                _until_raised()
            # Anywhere else it raises at once.
            if signum == signal.SIGINT:
                with pytest.raises(KeyboardInterrupt):
                    handler(signum, sys._getframe())
    finally:
        signal.signal(signal.SIGINT, previous_int)
    assert signal.getsignal(signal.SIGTERM) is not None


def test_an_ignored_ctrl_c_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _signals_raise():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
