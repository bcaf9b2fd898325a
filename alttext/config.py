"""Configuration: ``[tool.alttext]`` in ``pyproject.toml`` or an ``alttext.toml``.

The file is found upward from the working directory (``alttext.toml`` wins over
``pyproject.toml`` in the same directory) unless one is named explicitly. Command-line
flags override the file; the file overrides the defaults. An unknown key is an error that
names it, so a typo never silently does nothing. Relative paths are relative to the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alttext.errors import ConfigError
from alttext.rules.checks import RuleSettings
from alttext.rules.model import RULES, Severity

FAIL_ON = ("error", "warning", "info", "never")
DETAILS = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting alttext reads, with its default."""

    fail_on: str = "error"
    site_root: Path | None = None
    base_url: str | None = None
    exclude: tuple[str, ...] = ()
    max_length: int = 125
    rules: Mapping[str, Severity | None] = field(default_factory=dict)
    backend: str = "offline"
    model: str | None = None
    api_base: str | None = None
    detail: str = "low"
    focus: str | None = None
    sync: bool = False
    image_transport: str = "auto"
    metadata_first: bool = True
    ocr: bool = True
    jobs: int | None = None
    workers: int | None = None
    rate: float | None = None
    timeout: float = 30.0
    deadline: float = 300.0
    #: Seconds for each remote image a page shows, redirects and body included.
    fetch_timeout: float = 60.0
    cache_dir: Path | None = None
    cache: bool = True
    catalog: Path | None = None
    remote: bool = True
    allow_private_hosts: bool = False
    replace_bad: bool = False
    require_reviewed: bool = False
    source: Path | None = None

    def rule_settings(self) -> RuleSettings:
        """The rule part of the configuration."""
        return RuleSettings(severities=dict(self.rules), max_length=self.max_length)

    def threshold(self) -> Severity | None:
        """The ``fail_on`` threshold; ``None`` means never fail."""
        return None if self.fail_on == "never" else Severity.parse(self.fail_on)

    def merged(self, **overrides: Any) -> Config:
        """A copy with the given non-``None`` overrides applied (CLI flags win)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return _validated(dataclasses.replace(self, **changes))


_PATH_KEYS = {"site_root", "cache_dir", "catalog"}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "fail_on": str,
    "site_root": str,
    "base_url": str,
    "exclude": list,
    "max_length": int,
    "rules": dict,
    "backend": str,
    "model": str,
    "api_base": str,
    "detail": str,
    "focus": str,
    "sync": bool,
    "image_transport": str,
    "metadata_first": bool,
    "ocr": bool,
    "jobs": int,
    "workers": int,
    "rate": (int, float),
    "timeout": (int, float),
    "deadline": (int, float),
    "fetch_timeout": (int, float),
    "cache_dir": str,
    "cache": bool,
    "catalog": str,
    "remote": bool,
    "allow_private_hosts": bool,
    "replace_bad": bool,
    "require_reviewed": bool,
}


def _validated(config: Config) -> Config:
    if config.fail_on not in FAIL_ON:
        raise ConfigError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {config.fail_on!r}")
    if config.detail not in DETAILS:
        raise ConfigError(f"detail must be one of {', '.join(DETAILS)}, not {config.detail!r}")
    if config.max_length < 20:
        raise ConfigError(f"max_length must be at least 20, not {config.max_length}")
    if config.jobs is not None and config.jobs < 1:
        raise ConfigError(f"jobs must be at least 1, not {config.jobs}")
    if config.workers is not None and config.workers < 1:
        raise ConfigError(f"workers must be at least 1, not {config.workers}")
    for name in ("timeout", "deadline", "fetch_timeout"):
        seconds = getattr(config, name)
        if not seconds > 0:  # NaN too
            raise ConfigError(f"{name} must be more than 0 seconds, not {seconds!r}")
    if config.image_transport not in ("auto", "url", "upload", "data-uri"):
        raise ConfigError(
            f"image_transport {config.image_transport!r} is not auto/url/upload/data-uri"
        )
    return config


def _parse_rules(table: Mapping[str, Any], where: str) -> dict[str, Severity | None]:
    out: dict[str, Severity | None] = {}
    for rule, level in table.items():
        if rule not in RULES:
            raise ConfigError(f"{where}: unknown rule {rule!r} in [rules]")
        if not isinstance(level, str):
            raise ConfigError(f"{where}: rule {rule!r} needs a string level")
        if level.lower() == "off":
            out[rule] = None
        else:
            try:
                out[rule] = Severity.parse(level)
            except ValueError as exc:
                raise ConfigError(f"{where}: rule {rule!r}: {exc} or off") from None
    return out


def from_mapping(table: Mapping[str, Any], *, base_dir: Path, where: str) -> Config:
    """Build a :class:`Config` from a TOML table; unknown keys and bad types are errors."""
    values: dict[str, Any] = {}
    for raw_key, raw_value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _TYPES:
            raise ConfigError(f"{where}: unknown key {raw_key!r}")
        expected = _TYPES[key]
        value: Any = raw_value
        if not isinstance(raw_value, expected) or (expected is int and isinstance(raw_value, bool)):
            raise ConfigError(f"{where}: key {raw_key!r} has the wrong type")
        if key in _PATH_KEYS:
            value = (base_dir / value).resolve()
        elif key == "exclude":
            value = tuple(str(v) for v in value)
        elif key == "rules":
            value = _parse_rules(value, where)
        values[key] = value
    return _validated(Config(source=Path(where), **values))


def find_config(start: Path) -> Path | None:
    """The nearest ``alttext.toml`` or ``pyproject.toml`` with ``[tool.alttext]``."""
    for folder in (start, *start.parents):
        candidate = folder / "alttext.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if (
            pyproject.is_file()
            and "tool" in _read_toml(pyproject)
            and "alttext" in _read_toml(pyproject).get("tool", {})
        ):
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


#: The catalog a project keeps beside its configuration, used when it exists.
DEFAULT_CATALOG = "alttext.json"
#: Files that mark a project's folder (where its catalog is kept).
_PROJECT_FILES = ("alttext.toml", "pyproject.toml", "mkdocs.yml", "mkdocs.yaml", "pelicanconf.py")


def default_catalog(start: Path) -> Path | None:
    """``alttext.json`` in the nearest project folder up from ``start`` (one holding
    ``alttext.toml``, ``pyproject.toml``, ``mkdocs.yml`` or ``pelicanconf.py``), if that
    file exists: a committed catalog is found without being named on every command. Never
    created here, so a project without one gets none."""
    for folder in (start, *start.parents):
        if any((folder / name).is_file() for name in _PROJECT_FILES):
            candidate = folder / DEFAULT_CATALOG
            return candidate if candidate.is_file() else None
    return None


def load_config(path: Path | None = None, *, cwd: Path | None = None) -> Config:
    """Load the configuration file ``path`` (or the one found upward from ``cwd``).

    Without a ``catalog`` setting, the project's ``alttext.json`` is the catalog when it
    exists (:func:`default_catalog`).
    """
    start = (cwd or Path.cwd()).resolve()
    if path is None:
        path = find_config(start)
        if path is None:
            return Config(catalog=default_catalog(start))
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist")
    data = _read_toml(path)
    if path.name == "pyproject.toml" or "tool" in data:
        table = data.get("tool", {}).get("alttext", {})
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.alttext] must be a table")
    config = from_mapping(table, base_dir=path.parent.resolve(), where=str(path))
    if config.catalog is None:
        config = dataclasses.replace(config, catalog=default_catalog(path.parent.resolve()))
    return config
