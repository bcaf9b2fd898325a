"""The library call behind ``alttext caption``: caption image files directly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alttext.config import Config
from alttext.images.probe import sniff_mime
from alttext.pipeline.describe import DescriberSession, ImageInput

MAX_FILE_BYTES = 50 * 1024 * 1024


def _result(image: Path, backend: str, **values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "image": str(image),
        "alt": None,
        "caption": None,
        "backend": backend,
        "model": None,
        "nsfw": None,
        "inference_ms": None,
        "task_id": None,
        "error": None,
    }
    out.update(values)
    return out


def caption_files(
    images: list[Path], config: Config, *, env: Mapping[str, str], language: str | None = None
) -> list[dict[str, Any]]:
    """Caption each file; one result dict per image, in argument order.

    The dicts follow the ``alttext caption --json`` contract: ``image, alt, caption,
    backend, model, nsfw, inference_ms, task_id, error``. Configuration problems (unknown
    backend, missing API key) raise :class:`~alttext.errors.ConfigError` before any image
    is read; per-image failures are reported in ``error``.
    """
    results = []
    with DescriberSession(config, env) as describer:
        backend = describer.captioner.name
        for image in images:
            try:
                if image.stat().st_size > MAX_FILE_BYTES:
                    results.append(_result(image, backend, error="image larger than 50 MiB"))
                    continue
                data = image.read_bytes()
            except OSError as exc:
                results.append(_result(image, backend, error=f"cannot read: {exc.strerror}"))
                continue
            mime = sniff_mime(data)
            if mime is None:
                results.append(_result(image, backend, error="not a recognised image format"))
                continue
            outcome = describer.describe(
                ImageInput.from_bytes(data, mime, example=image.name), language=language
            )
            results.append(
                _result(
                    image,
                    outcome.backend or backend,
                    alt=outcome.alt,
                    caption=outcome.caption,
                    model=outcome.model,
                    nsfw=outcome.nsfw,
                    inference_ms=outcome.inference_ms,
                    task_id=outcome.task_id,
                    error=outcome.error,
                )
            )
    return results
