"""alttext: find images without alt text in built static sites, caption them once, fix them.

The public API is listed in ``__all__``. Names are imported lazily on first use, so
``import alttext`` does no work: it opens no cache, reads no environment variable and
imports no backend or plugin host.

Example::

    from pathlib import Path
    import alttext

    report = alttext.run_check([Path("site")], alttext.Config())
    for finding in report.findings:
        print(finding.file, finding.line, finding.rule)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "AltTextError": "alttext.errors",
    "ConfigError": "alttext.errors",
    "MissingCredentials": "alttext.errors",
    "ScanError": "alttext.errors",
    "ImageError": "alttext.errors",
    "ImageRefused": "alttext.errors",
    "ImageFetchError": "alttext.errors",
    "FetchTimedOut": "alttext.errors",
    "CaptionError": "alttext.errors",
    "CaptionAPIError": "alttext.errors",
    "CaptionTimeout": "alttext.errors",
    "CredentialsRejected": "alttext.errors",
    "NoCaption": "alttext.errors",
    "RewriteError": "alttext.errors",
    # configuration
    "Config": "alttext.config",
    "load_config": "alttext.config",
    # scanning and rules
    "ImageElement": "alttext.scan.model",
    "AltState": "alttext.scan.model",
    "scan_file": "alttext.scan.scanner",
    "scan_text": "alttext.scan.scanner",
    "Finding": "alttext.rules.model",
    "Severity": "alttext.rules.model",
    "RULES": "alttext.rules.model",
    "RuleSettings": "alttext.rules.checks",
    "audit_page": "alttext.rules.checks",
    # captioning
    "Captioner": "alttext.captioners.base",
    "CaptionRequest": "alttext.captioners.base",
    "CaptionResult": "alttext.captioners.base",
    "CaptionContext": "alttext.captioners.base",
    "BackendOptions": "alttext.captioners.base",
    "create_captioner": "alttext.captioners.registry",
    "available_backends": "alttext.captioners.registry",
    "polish": "alttext.captioners.polish",
    # images
    "ImageRef": "alttext.images.resolve",
    "LoadedImage": "alttext.images.resolve",
    "load_ref": "alttext.images.resolve",
    "NetworkPolicy": "alttext.images.fetch",
    # storage
    "CaptionCache": "alttext.store.cache",
    "Catalog": "alttext.store.catalog",
    # rewriting
    "Edit": "alttext.rewrite",
    "apply_edits": "alttext.rewrite",
    "rewrite_file": "alttext.rewrite",
    # pipelines
    "run_check": "alttext.pipeline.check",
    "CheckReport": "alttext.pipeline.check",
    "run_fix": "alttext.pipeline.fix",
    "FixReport": "alttext.pipeline.fix",
    "caption_files": "alttext.pipeline.caption",
}

# Public names that differ from the defining module's name.
_RENAMED = {"create_captioner": "create", "available_backends": "available"}

__all__ = [
    "RULES",
    "AltState",
    "AltTextError",
    "BackendOptions",
    "CaptionAPIError",
    "CaptionCache",
    "CaptionContext",
    "CaptionError",
    "CaptionRequest",
    "CaptionResult",
    "CaptionTimeout",
    "Captioner",
    "Catalog",
    "CheckReport",
    "Config",
    "ConfigError",
    "CredentialsRejected",
    "Edit",
    "FetchTimedOut",
    "Finding",
    "FixReport",
    "ImageElement",
    "ImageError",
    "ImageFetchError",
    "ImageRef",
    "ImageRefused",
    "LoadedImage",
    "MissingCredentials",
    "NetworkPolicy",
    "NoCaption",
    "RewriteError",
    "RuleSettings",
    "ScanError",
    "Severity",
    "__version__",
    "apply_edits",
    "audit_page",
    "available_backends",
    "caption_files",
    "create_captioner",
    "load_config",
    "load_ref",
    "polish",
    "rewrite_file",
    "run_check",
    "run_fix",
    "scan_file",
    "scan_text",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'alttext' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from alttext.captioners.base import (
        BackendOptions,
        CaptionContext,
        Captioner,
        CaptionRequest,
        CaptionResult,
    )
    from alttext.captioners.polish import polish
    from alttext.captioners.registry import available as available_backends
    from alttext.captioners.registry import create as create_captioner
    from alttext.config import Config, load_config
    from alttext.errors import (
        AltTextError,
        CaptionAPIError,
        CaptionError,
        CaptionTimeout,
        ConfigError,
        CredentialsRejected,
        FetchTimedOut,
        ImageError,
        ImageFetchError,
        ImageRefused,
        MissingCredentials,
        NoCaption,
        RewriteError,
        ScanError,
    )
    from alttext.images.fetch import NetworkPolicy
    from alttext.images.resolve import ImageRef, LoadedImage, load_ref
    from alttext.pipeline.caption import caption_files
    from alttext.pipeline.check import CheckReport, run_check
    from alttext.pipeline.fix import FixReport, run_fix
    from alttext.rewrite import Edit, apply_edits, rewrite_file
    from alttext.rules.checks import RuleSettings, audit_page
    from alttext.rules.model import RULES, Finding, Severity
    from alttext.scan.model import AltState, ImageElement
    from alttext.scan.scanner import scan_file, scan_text
    from alttext.store.cache import CaptionCache
    from alttext.store.catalog import Catalog
