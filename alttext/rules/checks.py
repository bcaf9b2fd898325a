"""The audit: which rules an element breaks.

The axe-compatible rules reproduce axe-core's verdicts on the same markup; the extra rules
catch alt text that exists but does not help. See ``shared/alt-text-rules.md`` for the
reference table this module implements.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from posixpath import basename
from urllib.parse import unquote, urlsplit

from alttext.rules.model import RULES, Finding, Severity
from alttext.scan.model import AltState, Control, ImageElement
from alttext.scan.names import collapse, is_presentational

SizeProbe = Callable[[ImageElement], "tuple[int, int] | None"]

_SVG_IMG_ROLES = frozenset({"img", "graphics-document", "graphics-symbol"})
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif")
# Camera defaults, screenshot defaults, a UUID or a long hex hash: one anchored pattern
# (one match attempt per alt instead of three).
_DEFAULT_NAME = re.compile(
    r"(?:img|dsc[nf]?|pxl|mvimg|gopr|dji|sam|wp|vid|photo)[_-]?\d{3,}[\w.-]*$"
    r"|(?:screen\s?shot|screenshot|cleanshot)(?:\s+from)?[\s_-]+\d{4}-\d{2}-\d{2}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    r"|[0-9a-f]{16,}$",
    re.IGNORECASE,
)
_PLACEHOLDERS = frozenset(
    [
        "image",
        "img",
        "photo",
        "picture",
        "graphic",
        "icon",
        "logo",
        "chart",
        "diagram",
        "screenshot",
        "spacer",
        "blank",
        "placeholder",
        "temp",
        "untitled",
        "alt",
    ]
)
_REDUNDANT_PREFIX = re.compile(
    r"^\s*(?:(?:an?|the)\s+)?(?:image|picture|photo|photograph|graphic|screenshot)\s+of\b",
    re.IGNORECASE,
)
_PUNCTUATION_ONLY = re.compile(r"^\W$")


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """Rule configuration: per-rule severity overrides (``None`` = off) and the length limit."""

    severities: Mapping[str, Severity | None] = field(default_factory=dict)
    max_length: int = 125

    def severity(self, rule: str) -> Severity | None:
        """The effective severity of ``rule``; ``None`` when disabled."""
        if rule in self.severities:
            return self.severities[rule]
        return RULES[rule].severity


def _norm(text: str) -> str:
    return collapse(text).lower()


@functools.lru_cache(maxsize=4096)
def _file_name(src: str) -> str:
    # Pages repeat the same sources (logos, icons): parse each URL once.
    return unquote(basename(urlsplit(src).path)).lower()


def is_filename_alt(alt: str, src: str | None) -> bool:
    """Whether ``alt`` is a file name or a camera / OS screenshot default."""
    value = alt.strip()
    if not value:
        return False
    if src and not src.startswith("data:"):
        name = _file_name(src)
        if name and value.lower() == name:
            return True
    return value.lower().endswith(_IMAGE_EXTENSIONS) or _DEFAULT_NAME.match(value) is not None


def is_placeholder_alt(alt: str) -> bool:
    """Whether ``alt`` is a placeholder word or a lone punctuation mark."""
    value = alt.strip()
    if _PUNCTUATION_ONLY.match(value):
        return True
    return value.strip(".:!-_ ").lower() in _PLACEHOLDERS


def has_redundant_prefix(alt: str) -> bool:
    """Whether ``alt`` starts with "image of", "photo of"...."""
    return bool(_REDUNDANT_PREFIX.match(alt))


def is_tiny(image: ImageElement, size: tuple[int, int] | None) -> bool:
    """A spacer or tracking pixel: intrinsic size ≤ 2 px in a dimension, or both attrs ≤ 2."""
    if size is not None and min(size) <= 2:
        return True
    try:
        width = int(image.attrs.get("width", "").strip().rstrip("px") or "x")
        height = int(image.attrs.get("height", "").strip().rstrip("px") or "x")
    except ValueError:
        return False
    return width <= 2 and height <= 2


def applies(image: ImageElement) -> bool:
    """Whether the audit looks at this element at all (axe skips hidden content)."""
    return not (image.hidden or image.ignored or image.in_template or image.in_noscript)


def _area_checked_when_hidden(image: ImageElement) -> bool:
    # axe's area-alt runs with excludeHidden: false; template/noscript content is not in the
    # rendered document at all.
    return (
        image.element == "area"
        and image.hidden
        and not (image.ignored or image.in_template or image.in_noscript)
    )


class _Emitter:
    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self.found: list[Finding] = []

    def __call__(
        self, image: ImageElement, rule: str, message: str, *, at: Control | None = None
    ) -> None:
        """Record a finding at ``image`` (or at the control ``at`` that contains it)."""
        severity = self.settings.severity(rule)
        if severity is None:
            return
        located = at is not None and at.line > 0
        self.found.append(
            Finding(
                file=image.rel_page,
                line=at.line if at is not None and located else image.line,
                column=at.column if at is not None and located else image.column,
                rule=rule,
                severity=severity,
                message=message,
                element=("button" if at.kind == "button" else "a")
                if at and located
                else image.element,
                src=image.src,
                snippet=at.snippet if at is not None and located else image.snippet,
            )
        )


def _check_img(
    image: ImageElement, emit: _Emitter, settings: RuleSettings, probe: SizeProbe | None
) -> None:
    state = image.alt_state
    presentational = is_presentational(image.attrs)
    if state is AltState.WHITESPACE and not presentational:
        # axe's alt-space-value: whitespace-only alt fails even when a title names it.
        emit(image, "image-alt", "Image has whitespace-only alt")
        return
    if state is AltState.MISSING and not (image.named_by_aria() or presentational):
        emit(image, "image-alt", "Image has no alt attribute and no other accessible name")
        return
    alt = image.alt
    if state is AltState.PRESENT and alt is not None:
        _check_alt_text(image, alt, emit, settings)
    elif state is AltState.EMPTY:
        # Inside a link or button: with text it is decorative; without, link-name /
        # button-name already report the real problem.
        decorative = presentational or image.control is not None
        if not decorative:
            size = probe(image) if probe is not None else None
            decorative = is_tiny(image, size)
        if not decorative:
            emit(
                image,
                "alt-decorative-review",
                'alt="" marks this image decorative; confirm nothing is lost without it',
            )


def _check_alt_text(image: ImageElement, alt: str, emit: _Emitter, settings: RuleSettings) -> None:
    shown = alt.strip()
    if is_filename_alt(alt, image.src):
        emit(image, "alt-filename", f"Alt text {shown!r} is a file name, not a description")
    elif is_placeholder_alt(alt):
        emit(image, "alt-placeholder", f"Alt text {shown!r} is a placeholder, not a description")
    if has_redundant_prefix(alt):
        emit(image, "alt-redundant-prefix", f"Alt text {shown!r} starts with a redundant prefix")
    if len(shown) > settings.max_length:
        emit(
            image,
            "alt-too-long",
            f"Alt text is {len(shown)} characters long (limit {settings.max_length})",
        )
    name = image.accessible_name()
    if (
        image.parent_text
        and not is_presentational(image.attrs)
        and _norm(name) == _norm(image.parent_text)
    ):
        emit(image, "image-redundant-alt", f"Alt text {name!r} repeats the surrounding text")


def _has_name_or_nonempty_alt(image: ImageElement) -> bool:
    # axe's non-empty-alt trims with JavaScript's whitespace (collapse), not str.strip.
    return image.named_by_aria() or bool(collapse(image.alt))


def check_element(
    image: ImageElement, emit: _Emitter, settings: RuleSettings, probe: SizeProbe | None
) -> None:
    """Apply every rule that fits ``image``'s element type (axe's selectors, exactly)."""
    name, role_attr = image.element, image.attrs.get("role")
    if name == "img":
        _check_img(image, emit, settings, probe)
    elif name == "input":
        # axe's selector input[type="image"] is case-sensitive, and this rule keeps axe's
        # verdicts (shared/alt-text-rules.md): type=IMAGE is not flagged here, though it
        # is an image button to browsers and fix fills it.
        if image.attrs.get("type") == "image" and not _has_name_or_nonempty_alt(image):
            emit(image, "input-image-alt", "Image button has no alt text naming its action")
    elif name == "area":
        if image.in_map and "href" in image.attrs and not _has_name_or_nonempty_alt(image):
            emit(image, "area-alt", "Image map area has no alt text")
    elif name == "svg" or image.in_svg:
        roles = _SVG_IMG_ROLES if name == "svg" else _SVG_IMG_ROLES - {"graphics-document"}
        if (
            image.role in roles
            and role_attr in roles
            and not (image.svg_title or image.named_by_aria())
        ):
            emit(
                image,
                "svg-img-alt",
                f"<{name} role={role_attr}> has no <title>, aria-label or title",
            )
    elif name == "object":
        if image.attrs.get("data") and not (
            image.named_by_aria() or is_presentational(image.attrs)
        ):
            emit(image, "object-alt", "<object> has no aria-label, aria-labelledby or title")
    elif role_attr == "img" and not image.named_by_aria():
        # axe's selector [role='img'] matches the whole attribute value exactly.
        emit(image, "role-img-alt", f'<{name} role="img"> has no accessible name')


def _check_controls(images: list[ImageElement], emit: _Emitter) -> None:
    """link-name / button-name for links and buttons that contain images and get no name."""
    reported: set[str] = set()
    for image in images:
        control = image.control
        if control is None or not control.native or control.key in reported:
            continue
        reported.add(control.key)
        if control.has_name or control.named_by_content:
            continue
        rule = "button-name" if control.kind == "button" else "link-name"
        what = "Button" if control.kind == "button" else "Link"
        emit(image, rule, f"{what} has no accessible name: its images give it none", at=control)


def audit_page(
    images: Iterable[ImageElement],
    settings: RuleSettings | None = None,
    probe: SizeProbe | None = None,
) -> list[Finding]:
    """Audit one page's images and return its findings in document order.

    ``probe`` returns an image's intrinsic size (or ``None``); it is only asked for images
    with ``alt=""``, to tell spacers from images a person should review.
    """
    settings = settings or RuleSettings()
    emit = _Emitter(settings)
    images = list(images)
    visible = []
    for image in images:
        shown = applies(image)
        if shown:
            visible.append(image)
        if shown or _area_checked_when_hidden(image):
            check_element(image, emit, settings, probe)
    _check_controls(visible, emit)
    return sorted(emit.found, key=lambda f: (f.line, f.column))


def audited(findings: Iterable[Finding], threshold: Severity | None) -> Iterator[Finding]:
    """Findings at or above ``threshold`` (all when ``None``)."""
    for finding in findings:
        if threshold is None or finding.severity >= threshold:
            yield finding
