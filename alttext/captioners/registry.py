"""Backends registered by name, built lazily.

Built-in backends are named here as ``module:factory`` strings so that importing alttext
imports no backend. Third-party backends register a factory in the ``alttext.captioners``
entry-point group; a factory takes :class:`BackendOptions` and returns a :class:`Captioner`,
raising :class:`~alttext.errors.ConfigError` when something it needs (a key, a URL) is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from alttext.captioners.base import BackendOptions, Captioner
from alttext.errors import ConfigError

Factory = Callable[[BackendOptions], Captioner]

BUILTIN: dict[str, str] = {
    "offline": "alttext.captioners.offline:create",
    "wavespeed": "alttext.captioners.wavespeed:create",
    "openai": "alttext.captioners.openai_compat:create",
}

ENTRY_POINT_GROUP = "alttext.captioners"


def available() -> list[str]:
    """Names of every backend: built-in ones first, then installed plugins."""
    from importlib.metadata import entry_points  # plugins: looked up only when asked for

    names = list(BUILTIN)
    names += sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in names)
    return names


def _load(name: str) -> Factory:
    if name in BUILTIN:
        module_name, _, attr = BUILTIN[name].partition(":")
        return cast(Factory, getattr(importlib.import_module(module_name), attr))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return cast(Factory, ep.load())
    raise ConfigError(f"unknown captioning backend {name!r} (available: {', '.join(available())})")


def create(name: str, options: BackendOptions) -> Captioner:
    """Build the backend ``name``; configuration problems raise ``ConfigError`` now."""
    return _load(name)(options)
