"""A stand-in for a backend that could not be set up, for runs that may not need it.

A CI build with a committed catalog usually has every image decided already, and often no
secrets (a pull request from a fork). Failing such a run up front for a missing API key
would fail it for nothing; this stand-in lets it go on, and each image that does need the
backend fails on its own, with the reason, so the build lists exactly the images still to
decide.
"""

from __future__ import annotations

from alttext.captioners.base import CaptionRequest, CaptionResult
from alttext.errors import CaptionError, ConfigError

__all__ = ["UnavailableCaptioner"]


class UnavailableCaptioner:
    """Named as the backend ``name`` (cache keys stay the same), it never sends anything:
    each caption raises a :class:`~alttext.errors.CaptionError` that says why."""

    def __init__(self, name: str, reason: ConfigError) -> None:
        self.name = name
        self.reason = reason

    def __repr__(self) -> str:
        return f"UnavailableCaptioner({self.name!r})"

    @property
    def why(self) -> str:
        """The error of each image that needed this backend."""
        return (
            f"no alt decided for it (catalog, metadata, cache) and the {self.name} backend "
            f"cannot be asked: {self.reason}"
        )

    def caption(self, request: CaptionRequest) -> CaptionResult:
        raise CaptionError(self.why)

    def close(self) -> None:
        """Nothing to release."""
