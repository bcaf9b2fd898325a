"""The ``alttext`` command line: a thin click layer over the library.

Each command parses options, makes one library call and renders the result. Library
errors become click errors here and nowhere else: configuration problems exit 2, other
failures exit 1; bugs keep their traceback. One module per command group (``check``,
``fix``, ``caption``, ``store`` for cache and catalog); shared options in ``options``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from alttext import __version__

#: What an interrupted command leaves, by command (the others: nothing to explain).
_INTERRUPTED = {
    "fix": (
        "interrupted: pages already replaced are complete, the others are unchanged; "
        "run the same command again to finish"
    ),
}


class Terminated(KeyboardInterrupt):
    """SIGTERM (a plain ``kill``, CI runners, systemd), raised as Ctrl-C is.

    A :class:`KeyboardInterrupt` so that it unwinds through the same cleanup: staged
    temporary files removed, worker pools shut down, renames made durable.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Where an exception from a signal handler leaves a lock held: ``Condition.__enter__``
#: has taken its lock but not yet returned, so the caller's ``with`` never releases it. A
#: Future's condition left held that way hangs every thread that touches the Future, and
#: the run's cleanup with them (CPython: "with" does not guard its ``__enter__``).
_ENTER = threading.Condition.__enter__.__code__
#: Where one leaves a Condition's lock *not* held by a caller that holds it as far as its
#: ``with`` knows: ``Condition.wait`` just after it released the lock (before its
#: ``try``), or while it takes the lock back (an interrupted acquire gives up). The
#: ``with`` then releases a lock it does not hold: a RuntimeError, not a clean interrupt.
_WAIT = threading.Condition.wait.__code__
#: The Condition's own release and re-acquire (used when its lock is a plain Lock).
_SWAP = (
    threading.Condition._release_save.__code__,  # type: ignore[attr-defined]
    threading.Condition._acquire_restore.__code__,  # type: ignore[attr-defined]
)


@functools.cache
def _swap_lines() -> frozenset[int]:
    """The lines of ``Condition.wait`` that release its lock and take it back."""
    import dis

    return frozenset(
        instruction.positions.lineno
        for instruction in dis.get_instructions(_WAIT)
        if instruction.argval in ("_release_save", "_acquire_restore")
        and instruction.positions is not None
        and instruction.positions.lineno is not None
    )


def _unguarded(frame: FrameType) -> bool:
    """Whether an exception raised in ``frame`` now would leave a lock in the wrong state."""
    code = frame.f_code
    if code is _ENTER or code in _SWAP:
        return True
    return code is _WAIT and frame.f_lineno in _swap_lines()


#: Seconds before a signal that arrived in such a place is raised (the caller is then well
#: inside its ``with``).
_DEFER = 0.002


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """While a command runs, SIGINT raises KeyboardInterrupt and SIGTERM raises
    :class:`Terminated` in the main thread, never where the exception would leave a
    lock in the wrong state (see :func:`_unguarded`).

    Only here, when the CLI runs: a library user's process keeps its own handling. A
    second SIGTERM during the cleanup ends the process at once, as SIGTERM does by
    default (a page is whole at every instant; the next run sweeps what is left). A
    signal that arrives where its exception would leave a lock held is raised a moment
    later instead (a SIGALRM timer, which nothing else in the CLI uses).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (the CLI called from a thread)
        return
    owner = os.getpid()
    deferred: list[int] = []

    def raise_for(signum: int, frame: FrameType | None) -> None:
        if frame is not None and _unguarded(frame) and hasattr(signal, "setitimer"):
            deferred.append(signum)
            signal.setitimer(signal.ITIMER_REAL, _DEFER)
            return
        if signum == signal.SIGTERM:
            signal.signal(signum, signal.SIG_DFL)
            raise Terminated(signum)
        raise KeyboardInterrupt

    def terminate(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            # A forked worker inherited this handler: it dies as it would have.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise_for(signum, frame)

    def later(_: int, frame: FrameType | None) -> None:
        if deferred:
            raise_for(deferred.pop(), frame)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, terminate)}
    if hasattr(signal, "setitimer"):  # POSIX
        previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, later)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (not when ignored)
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, raise_for)
    try:
        yield
    finally:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            # ``None``: a handler not set from Python, which cannot be put back.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


class _Group(click.Group):
    """The ``alttext`` group: an interrupted command says what it left, and exits 128+signo.

    Click alone prints "Aborted!" and exits 1, which a CI script cannot tell from
    "some images could not be captioned".
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with _signals_raise():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
            if signum == signal.SIGINT and sys.stderr.isatty():
                click.echo(err=True)  # the line after the terminal's "^C"
            click.echo(_INTERRUPTED.get(ctx.invoked_subcommand or "", "interrupted"), err=True)
            raise click.exceptions.Exit(128 + signum) from None


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="alttext")
def main() -> None:
    """Find images without alt text in built static sites, caption them once, fix them.

    \b
    Examples:
      alttext check site/                      audit; exit 1 on errors (a CI gate)
      alttext check site/ --format sarif -o alttext.sarif
      alttext fix site/                        fill missing alt (offline: metadata + OCR)
      alttext fix site/ --backend wavespeed --catalog alttext.json
      alttext caption photo.jpg --json         caption images directly
    """


# Importing the command modules registers their commands on ``main``.
from alttext.cli import caption, check, fix, store  # noqa: E402, F401
