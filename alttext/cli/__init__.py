"""The ``alttext`` command line: a thin click layer over the library.

Each command parses options, makes one library call and renders the result. Library
errors become click errors here and nowhere else: configuration problems exit 2, other
failures exit 1; bugs keep their traceback. One module per command group (``check``,
``fix``, ``caption``, ``store`` for cache and catalog); shared options in ``options``.
"""

from __future__ import annotations

import click

from alttext import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
