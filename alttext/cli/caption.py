"""``alttext caption``: caption image files directly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from alttext.cli import main
from alttext.cli.options import (
    backend_options,
    backend_overrides,
    build_config,
    library_errors,
)


@main.command()
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@backend_options
@click.option("--language", default=None, help="Language of the alt text (BCP 47, e.g. de).")
@click.option("--max-length", type=int, default=None, help="Alt text length limit [default: 125].")
@click.option("--json", "as_json", is_flag=True, help="Print all results as a JSON list.")
def caption(
    images: tuple[Path, ...],
    config_file: Path | None,
    language: str | None,
    max_length: int | None,
    as_json: bool,
    **backend: Any,
) -> None:
    """Caption image files and print the polished alt text for each.

    Exit status: 0 = every image got an alt, 1 = some failed, 2 = usage or
    configuration error (for example a missing API key).

    \b
    Examples:
      alttext caption photo.jpg
      alttext caption *.png --backend wavespeed --json
      alttext caption chart.png --backend openai --model llava --api-base http://localhost:11434
    """
    import json
    import os

    from alttext.pipeline.caption import caption_files

    config = build_config(config_file, max_length=max_length, **backend_overrides(backend))
    with library_errors():
        results = caption_files(list(images), config, env=os.environ, language=language)
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for item in results:
            if item["error"]:
                click.echo(f"{item['image']}: error: {item['error']}")
            else:
                click.echo(f"{item['image']}: {item['alt']}")
    if any(item["error"] for item in results):
        sys.exit(1)
