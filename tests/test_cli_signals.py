"""The CLI's signal handlers: Ctrl-C and SIGTERM raise in the main thread, but never in
the instant after ``Condition.__enter__`` took its lock, where the exception would leave
that lock held for ever (a Future nobody can finish, a run that cannot end), nor while
``Condition.wait`` is without its lock (the caller's ``with`` would release a lock it
does not hold)."""

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


class _SwapLock:
    """A Condition's lock that, just after ``Condition.wait`` released it (or just before
    it takes it back), lets a signal "arrive": ``arrive`` is called with wait's frame."""

    def __init__(self, at: str, arrive: Any) -> None:
        self.lock = threading.Lock()
        self.at, self.arrive = at, arrive

    def acquire(self, *args: Any) -> bool:
        return self.lock.acquire(*args)

    def release(self) -> None:
        self.lock.release()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.lock.release()  # a RuntimeError if wait left it released

    def _is_owned(self) -> bool:
        return self.lock.locked()

    def _release_save(self) -> None:
        self.lock.release()
        if self.at == "released":
            self.arrive(sys._getframe(1))

    def _acquire_restore(self, _: object) -> None:
        if self.at == "taking back":
            self.arrive(sys._getframe(1))
        self.lock.acquire()


@pytest.mark.parametrize("at", ["released", "taking back"])
def test_a_signal_while_a_condition_waits_without_its_lock_is_raised_with_the_lock_back(
    at: str,
) -> None:
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _signals_raise():
            handler = signal.getsignal(signal.SIGINT)
            assert callable(handler)
            lock = _SwapLock(at, lambda frame: handler(signal.SIGINT, frame))
            condition = threading.Condition(lock)  # type: ignore[arg-type]
            # Raised there, the interrupt would leave the lock released and the ``with``
            # would fail releasing it; deferred, it comes after the wait, the lock back.
            with pytest.raises(KeyboardInterrupt), condition:
                assert lock.at in ("released", "taking back")
                condition.wait(0.2)
                _until_raised()
            assert not lock.lock.locked()
    finally:
        signal.signal(signal.SIGINT, previous_int)
