"""The ``alttext`` command line: a thin click layer over the library.

Each command parses options, makes one library call and renders the result. Library
errors become click errors here and nowhere else: configuration problems exit 2, other
failures exit 1; bugs keep their traceback. One module per command group (``check``,
``fix``, ``caption``, ``store`` for cache and catalog); shared options in ``options``.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` in the main thread.

    Only here, when the CLI runs: a library user's process keeps its own handling. A
    second SIGTERM during the cleanup ends the process at once, as SIGTERM does by
    default (a page is whole at every instant; the next run sweeps what is left).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (the CLI called from a thread)
        return
    owner = os.getpid()

    def terminate(signum: int, frame: FrameType | None) -> None:
        signal.signal(signum, signal.SIG_DFL)
        if os.getpid() != owner:
            # A forked worker inherited this handler: it dies as it would have.
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        # ``None``: a handler not set from Python, which cannot be put back.
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


class _Group(click.Group):
    """The ``alttext`` group: an interrupted command says what it left, and exits 128+signo.

    Click alone prints "Aborted!" and exits 1, which a CI script cannot tell from
    "some images could not be captioned".
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with _sigterm_raises():
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
