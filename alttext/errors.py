"""The one exception tree of alttext.

Every error the library raises on purpose derives from :class:`AltTextError`, so a caller
can catch one class. Exceptions from dependencies (requests, PIL, lxml) are translated at
the boundary with ``raise ... from exc``; they never leak to callers.

::

    AltTextError
    ├── ConfigError                 bad option, unknown config key, missing API key
    │   └── MissingCredentials      the backend needs an API key that is not set
    ├── ScanError                   an HTML file could not be read or decoded
    ├── ImageError                  an image could not be resolved or used
    │   ├── ImageRefused            path escapes the site root, private host, too large
    │   └── ImageFetchError         network failure, HTTP error, corrupt or unreadable image
    │       └── FetchTimedOut       the host did not answer in time
    ├── CaptionError                a backend could not produce a caption
    │   ├── CaptionAPIError         the service answered with an error (.status, .body, .code)
    │   │   └── CredentialsRejected the key was refused (HTTP 401); also a ConfigError
    │   ├── CaptionTimeout          no result before the deadline (.task_id when known)
    │   └── NoCaption               the backend had nothing to say (offline, empty caption)
    └── RewriteError                an HTML file could not be rewritten safely

Messages never contain secrets: API keys are redacted before an error is built.
"""

from __future__ import annotations


class AltTextError(Exception):
    """Root of every error alttext raises on purpose."""


class ConfigError(AltTextError):
    """Invalid configuration: an unknown key, a bad value, a missing credential."""


class MissingCredentials(ConfigError):
    """The backend needs a credential (an API key) that is not set.

    A ``fix`` with a catalog goes on without one (a CI build without secrets): only the
    images the catalog, metadata and cache do not answer fail, each with this message.
    """


class ScanError(AltTextError):
    """An HTML file could not be read or decoded."""


class ImageError(AltTextError):
    """An image could not be resolved to bytes or could not be used."""


class ImageRefused(ImageError):
    """An image was refused by a safety rule (path escape, private host, size cap)."""


class ImageFetchError(ImageError):
    """An image could not be fetched or decoded (network, HTTP status, corrupt data)."""


class FetchTimedOut(ImageFetchError):
    """A remote image's host did not answer in time (a connect or read timeout, or the
    fetch's overall deadline)."""


class CaptionError(AltTextError):
    """A captioning backend could not produce a caption."""


class CaptionAPIError(CaptionError):
    """The captioning service answered with an error.

    Attributes:
        status: HTTP status, when the error came from an HTTP answer.
        body: the (truncated) body of that answer, for diagnosis.
        code: the service's business error code, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.code = code


class CredentialsRejected(CaptionAPIError, ConfigError):
    """The service refused the request's credentials (HTTP 401): every later request of
    the run would be refused too, so the run stops as for any configuration error."""


class CaptionTimeout(CaptionError):
    """No caption arrived before the deadline.

    Attributes:
        task_id: the remote task id when the task was created (it may still finish and be
            billed), ``None`` when it is unknown whether the service took the request.
    """

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


class NoCaption(CaptionError):
    """The backend produced nothing usable (no metadata, no text, an empty caption)."""


class RewriteError(AltTextError):
    """An HTML file could not be rewritten without risking its other bytes."""


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``.

    Also the forms a server may echo it in: percent-encoded, base64 (as in a Basic
    ``Authorization`` header), JSON-escaped, in any letter case. A secret of fewer than
    eight characters is replaced only as a whole word, so a one-letter test key does not
    mask every such letter of a message.
    """
    import re

    patterns = []
    for secret in secrets:
        if not secret:
            continue
        forms = {secret, *_echoed_forms(secret)}
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        if len(secret) < 8:
            alternatives = rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])"
        patterns.append(alternatives)
    if not patterns:
        return text
    return re.sub("|".join(f"(?:{p})" for p in patterns), "***", text, flags=re.IGNORECASE)


def _echoed_forms(secret: str) -> list[str]:
    import base64
    import json
    from urllib.parse import quote, quote_plus

    raw = secret.encode("utf-8")
    every = "".join(chr(b) if chr(b).isalnum() else f"%{b:02X}" for b in raw)
    forms = [quote(secret, safe=""), quote_plus(secret), every, json.dumps(secret)[1:-1]]
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms += [encoded.decode("ascii"), encoded.decode("ascii").rstrip("=")]
    return [form for form in forms if form]
