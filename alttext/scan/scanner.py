"""Scan HTML pages for image-like elements.

Two passes over each page, both at C speed: :mod:`alttext.scan.tokens` finds the exact
start tags (offsets, original text), and lxml builds the tree that answers context
questions (ancestors, link text, figcaption, ``lang``). The two are paired by tag name in
document order, checked against lxml's ``sourceline`` (the line where the start tag *ends*).
Pages are processed one at a time, so memory does not grow with the number of files.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from alttext.captioners.base import CaptionContext
from alttext.errors import ScanError
from alttext.scan.encoding import DecodedHTML, decode_html
from alttext.scan.model import AltState, Control, ImageElement
from alttext.scan.names import (
    collapse,
    content_has_name,
    control_text,
    image_name,
    is_hidden_element,
    labelledby_text,
    role_of,
    tag_of,
    text_of,
)
from alttext.scan.tokens import (
    IMAGE_ROLES,
    IMAGE_TAGS,
    LineIndex,
    StartTag,
    interesting_start_tags,
    last_start_tag,
    parse_attrs,
    start_tags_by_end_line,
    start_tags_near_line,
)

HTML_SUFFIXES = (".html", ".htm", ".xhtml")

#: The largest page read (64 MiB): far above any real page, and it keeps one stray file
#: (a log, a dump, /dev/zero behind a symlink) from filling the memory.
MAX_PAGE_BYTES = 64 * 1024 * 1024

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_LOCAL = threading.local()


def _parser() -> etree.HTMLParser:
    # lxml parsers must not be shared between threads. collect_ids=False: libxml2 would
    # otherwise hash every id attribute (~14 % of the parse); aria-labelledby is resolved
    # with an XPath over @id instead.
    parser: etree.HTMLParser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = etree.HTMLParser(recover=True, collect_ids=False)
    return parser


# ``//@role[...]/..`` rather than ``//*[@role...]``: walking the attribute axis is about a
# third cheaper than testing a predicate on every element, and the union keeps document
# order. Only the image roles: a page's many ``role=navigation``/``button`` elements are not
# images (they matter as ancestors, which the tree answers). Inputs are filtered by type
# afterwards (``is_image_like``), as XPath 1.0 cannot compare case-insensitively.
_IMAGE_TAG_NAMES = tuple(sorted(IMAGE_TAGS))
_IMAGE_ROLE_HOLDERS_PATH = (
    "//@role[" + " or ".join(f".='{role}'" for role in sorted(IMAGE_ROLES)) + "]/.."
)
_CANDIDATES = etree.XPath(
    "|".join(f"//{name}" for name in _IMAGE_TAG_NAMES) + "|" + _IMAGE_ROLE_HOLDERS_PATH
)
# Most pages have no image role: then one C-level walk by tag name finds the candidates,
# a third cheaper than the union's six walks.
_IMAGE_ROLE_HOLDERS = etree.XPath(_IMAGE_ROLE_HOLDERS_PATH)
_HEADING = etree.XPath(
    "preceding::*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6][1]"
)
_PARENT_TEXT_TAGS = frozenset({"button", "p", "li", "td", "th"})

#: Decides from an element's start tag alone whether it is worth scanning further.
TagFilter = Callable[[StartTag], bool]


@dataclass(frozen=True, slots=True)
class PageScan:
    """The result of scanning one page: its images, or the error that stopped it.

    ``data`` is the file's bytes as read (``decoded`` is their text): what a rewrite of
    the same page starts from. ``found`` counts the page's image-like elements, including
    those a ``keep`` filter left out of ``images``.
    """

    path: Path
    rel_path: str
    images: tuple[ImageElement, ...]
    decoded: DecodedHTML | None
    error: str | None = None
    data: bytes = field(default=b"", repr=False)
    found: int = 0
    #: The file's ``fstat`` when ``data`` was read (``None``: bytes the caller gave).
    version: os.stat_result | None = field(default=None, repr=False, compare=False)


def iter_html_files(
    paths: Iterable[Path],
    exclude: Iterable[str] = (),
    on_error: Callable[[OSError], None] | None = None,
) -> Iterator[Path]:
    """Yield HTML files under ``paths`` (files given directly are always yielded), sorted.

    ``exclude`` globs match against the path relative to the directory given, and against
    the file name (``drafts/*``, ``*.amp.html``). A folder that cannot be listed is
    passed to ``on_error`` (its pages would otherwise be skipped without a word).
    """
    patterns = tuple(exclude)

    def excluded(rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)

    for path in paths:
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path, onerror=on_error):
                dirnames.sort()
                for filename in sorted(filenames):
                    if not filename.lower().endswith(HTML_SUFFIXES):
                        continue
                    full = Path(dirpath, filename)
                    if not patterns or not excluded(full.relative_to(path).as_posix()):
                        yield full
        else:
            yield path


def _line_col(text: str, offsets: list[int]) -> list[tuple[int, int]]:
    """1-based (line, column) for sorted character ``offsets``, in one pass."""
    out: list[tuple[int, int]] = []
    line, line_start, cursor = 1, 0, 0
    for offset in offsets:
        newlines = text.count("\n", cursor, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", cursor, offset) + 1
        cursor = offset
        out.append((line, offset - line_start + 1))
    return out


def _sourceline(el: etree._Element) -> int | None:
    # lxml-stubs mistype sourceline; it is an int, or None for created elements.
    line: int | None = getattr(el, "sourceline", None)
    return line


def _pair(
    tags: list[StartTag], elements: list[etree._Element], text: str
) -> list[etree._Element | None]:
    """Pair each source tag with its lxml element (``None`` when lxml saw it differently)."""
    by_name: dict[str, list[etree._Element]] = defaultdict(list)
    for el in elements:
        if isinstance(el.tag, str):
            by_name[el.tag.lower()].append(el)
    tag_names: dict[str, list[int]] = defaultdict(list)
    for index, tag in enumerate(tags):
        tag_names[tag.name].append(index)
    paired: list[etree._Element | None] = [None] * len(tags)
    end_line_of = [line for line, _ in _line_col(text, [t.end - 1 for t in tags])]
    for name, indexes in tag_names.items():
        els = by_name.get(name, [])
        end_lines = [end_line_of[i] for i in indexes]
        if len(els) == len(indexes) and all(
            _sourceline(el) in (None, line) or line > 65535
            for el, line in zip(els, end_lines, strict=True)
        ):
            for i, el in zip(indexes, els, strict=True):
                paired[i] = el
            continue
        # The parsers disagree (recovered markup): pair by the line where each tag ends.
        queues: dict[int | None, deque[etree._Element]] = defaultdict(deque)
        for el in els:
            queues[_sourceline(el)].append(el)
        for i, line in zip(indexes, end_lines, strict=True):
            if queues[line]:
                paired[i] = queues[line].popleft()
    return paired


def _is_parent_text_element(el: etree._Element, tag: str) -> bool:
    # axe's image-redundant-alt compares with closest(button, [role=button], a[href], p,
    # li, td, th).
    return (
        tag in _PARENT_TEXT_TAGS
        or (tag == "a" and el.get("href") is not None)
        or role_of(el.get("role")) == "button"
    )


def _control(
    anc: etree._Element,
    tag: str,
    doc: etree._Element | None,
    text: str | None,
    before: int,
    index: LineIndex | None,
    *,
    image_named: bool,
    key: str,
    with_text: bool,
) -> Control:
    """Describe the link or button ``anc`` that contains an image.

    ``image_named``: the image that led here names itself, so the control gets a name from
    its content without looking further. The control's text is only computed when
    ``with_text`` (caption context) or when it decides the name.
    """
    role = role_of(anc.get("role"))
    kind = "button" if (tag == "button" or role == "button") else "link"
    has_name = bool(
        collapse(anc.get("aria-label"))
        or collapse(anc.get("title"))
        or (doc is not None and labelledby_text(doc, anc.get("aria-labelledby")))
    )
    native = tag == "button" or (tag == "a" and anc.get("href") is not None)
    visible = control_text(anc) if (with_text or not image_named) else None
    named_by_content = image_named or content_has_name(anc, doc, visible)
    where = None
    if native and not has_name and not named_by_content and text is not None:
        # The control's start tag, for a link-name / button-name location: found from its
        # line number when lxml has one, else by a bounded re-scan.
        line = _sourceline(anc)
        if index is not None and line is not None and line < 65535:
            on_line = start_tags_near_line(text, index, tag, line)
            candidates = [(start, end) for start, end, _ in on_line if start < before]
            where = candidates[-1] if candidates else None
        if where is None:
            where = last_start_tag(text, frozenset({tag}), before)
    line, column = _line_col(text, [where[0]])[0] if where and text else (0, 0)
    return Control(
        kind=kind,
        text=visible,
        href=anc.get("href"),
        has_name=has_name,
        key=key,
        native=native,
        named_by_content=named_by_content,
        start=where[0] if where else -1,
        snippet=text[where[0] : where[1]] if where and text else "",
        line=line,
        column=column,
    )


@dataclass(slots=True)
class _Inherited:
    """What an element's ancestors (and the element itself) say about its descendants."""

    hidden: bool = False
    ignored: bool = False
    in_template: bool = False
    in_noscript: bool = False
    in_map: bool = False
    in_svg: bool = False
    lang: str | None = None
    control: etree._Element | None = None
    picture: etree._Element | None = None


class _PageFacts:
    """Per-page memo of inherited facts, so images sharing ancestors share the walk.

    Holding the elements as keys keeps their lxml proxies alive, which keeps identity (and
    so the dict lookup) stable for the page's lifetime.
    """

    def __init__(self) -> None:
        self.inherited: dict[etree._Element, _Inherited] = {}
        self.controls: dict[etree._Element, Control] = {}
        self.texts: dict[etree._Element, str] = {}

    def of(self, el: etree._Element) -> _Inherited:
        """The facts ``el`` passes to its children."""
        inherited = self.inherited
        known = inherited.get(el)
        if known is not None:  # siblings share a parent: the usual case
            return known
        chain = [el]
        node = el.getparent()
        base = _NOTHING_INHERITED
        while node is not None:
            known = inherited.get(node)
            if known is not None:
                base = known
                break
            chain.append(node)
            node = node.getparent()
        special, passing = _SPECIAL_TAGS, _PASS_THROUGH_ATTRS
        for node in reversed(chain):
            # The common case inline (a div, section, span...: nothing to pass on): this
            # runs for every ancestor of every image.
            if node.tag in special or not passing.isdisjoint(node.keys()):
                base = _extend(base, node)
            inherited[node] = base
        return base

    def visible_text(self, el: etree._Element) -> str:
        """Memoised :func:`visible_text`."""
        value = self.texts.get(el)
        if value is None:
            value = self.texts[el] = control_text(el)
        return value


_PASS_THROUGH_ATTRS = frozenset(
    {
        "hidden",
        "aria-hidden",
        "data-alttext-ignore",
        "lang",
        "xml:lang",
        "role",
        "href",
    }
)
# Tags that pass something on to their descendants. Not the text parents (p, li, td...)
# or <figure>: only a few images need those, found by a walk up when asked for.
_SPECIAL_TAGS = frozenset({"a", "button", "template", "noscript", "map", "svg", "picture"})


def _extend(base: _Inherited, node: etree._Element) -> _Inherited:
    tag = node.tag.lower() if isinstance(node.tag, str) else ""
    attrib = node.attrib
    if tag not in _SPECIAL_TAGS and _PASS_THROUGH_ATTRS.isdisjoint(node.keys()):
        return base  # most ancestors (div, section, main...) change nothing: share the facts
    role = role_of(node.get("role")) if "role" in attrib else None
    is_control = (tag == "a" and "href" in attrib) or tag == "button" or role in ("link", "button")
    lang = base.lang
    if "lang" in attrib or "xml:lang" in attrib:
        lang = node.get("lang") or node.get("xml:lang") or lang
    return _Inherited(
        hidden=base.hidden or is_hidden_element(node),
        ignored=base.ignored or "data-alttext-ignore" in attrib,
        in_template=base.in_template or tag == "template",
        in_noscript=base.in_noscript or tag == "noscript",
        in_map=base.in_map or tag == "map",
        in_svg=base.in_svg or tag == "svg",
        lang=lang,
        control=node if is_control else base.control,
        picture=node if tag == "picture" else base.picture,
    )


#: Where a described element is: page path, path relative to the root, line, column and
#: the page's ``<base href>``.
_Where = tuple[Path, str, int, int, "str | None"]
_NOWHERE: _Where = (Path(), "", 0, 0, None)
_NO_CONTEXT = CaptionContext()
_NOTHING_INHERITED = (
    _Inherited()
)  # never mutated: _extend builds new ones  # frozen: one instance serves every element


def _describe(
    tag: StartTag,
    el: etree._Element | None,
    doc: etree._Element | None,
    page_title: str | None,
    with_context: bool,
    text: str | None = None,
    index: LineIndex | None = None,
    facts: _PageFacts | None = None,
    names: bool = True,
    where: _Where | None = None,
) -> ImageElement:
    """Describe one located element; ``where`` says which page and where in it."""
    attrs = tag.attrs
    hidden = "hidden" in attrs or (attrs.get("aria-hidden", "").strip().lower() == "true")
    ignored = "data-alttext-ignore" in attrs
    in_template, in_noscript = tag.in_template, tag.in_noscript
    in_map = in_svg = False
    lang = attrs.get("lang")
    control: Control | None = None
    parent_text: str | None = None
    figcaption: str | None = None
    svg_title: str | None = None
    picture_srcsets: list[str] = []
    # Only image-redundant-alt reads the parent's text: skip it for images without a name.
    needs_parent_text = (
        names
        and tag.name == "img"
        and any(
            attrs.get(key, "").strip() for key in ("alt", "aria-label", "aria-labelledby", "title")
        )
    )
    parent = el.getparent() if el is not None else None
    if el is not None and parent is not None:
        facts = facts or _PageFacts()
        up = facts.of(parent)
        hidden = hidden or up.hidden
        ignored = ignored or up.ignored
        in_template = in_template or up.in_template
        in_noscript = in_noscript or up.in_noscript
        in_map, in_svg = up.in_map, up.in_svg
        lang = lang or up.lang
        if up.picture is not None:
            # libxml2 does not know <source> is void and nests the <img> inside it.
            picture_srcsets = [
                s.get("srcset", "") for s in up.picture.iter("source") if s.get("srcset")
            ]
        # A hidden image's control is never read (the rules skip hidden images, fix never
        # captions them) and icon links full of aria-hidden SVGs are common: skip it.
        if names and up.control is not None and not hidden:
            control = facts.controls.get(up.control)
            if control is None:
                image_named = bool(
                    el is not None
                    and (
                        image_name(el, labelledby_text(doc, attrs.get("aria-labelledby")))
                        if doc is not None
                        else image_name(el)
                    )
                )
                control = facts.controls[up.control] = _control(
                    up.control,
                    tag_of(up.control),
                    doc,
                    text,
                    tag.start,
                    index,
                    image_named=image_named,
                    key=str(len(facts.controls)),
                    with_text=with_context,
                )
        if needs_parent_text:
            text_parent = next(
                (a for a in el.iterancestors() if _is_parent_text_element(a, tag_of(a))), None
            )
            if text_parent is not None:
                parent_text = facts.visible_text(text_parent)
        if with_context:
            figure = next(el.iterancestors("figure"), None)
            if figure is not None:
                for child in figure.iter("figcaption"):
                    figcaption = text_of(child) or None
                    break
    if el is not None and (tag.name == "svg" or in_svg):
        svg_title = image_name(el) if tag.name == "svg" else None
        for child in el:
            if tag_of(child) == "title":
                svg_title = text_of(child) or None
                break
    labelledby = labelledby_text(doc, attrs.get("aria-labelledby")) if doc is not None else None
    context = _NO_CONTEXT
    if with_context:
        heading = None
        if el is not None:
            found = _HEADING(el)
            if isinstance(found, list) and found and isinstance(found[0], etree._Element):
                heading = text_of(found[0]) or None
        context = CaptionContext(
            page_title=page_title,
            heading=heading,
            figcaption=figcaption,
            control=("button" if control.kind == "button" else "link") if control else None,
            control_text=(control.text or None) if control else None,
            control_href=control.href if control else None,
        )
    page, rel_page, line, column, base_href = where or _NOWHERE
    # Keyword arguments straight into the constructor: this runs for every image-like
    # element of a site, and an intermediate dict unpacked with ** costs twice as much.
    return ImageElement(
        page=page,
        rel_page=rel_page,
        element=tag.name,
        line=line,
        column=column,
        start=tag.start,
        end=tag.end,
        snippet=text[tag.start : tag.end] if text is not None else "",
        attrs=attrs,
        alt_state=AltState.of(attrs.get("alt")),
        labelledby_text=labelledby,
        svg_title=svg_title,
        lang=lang,
        hidden=hidden,
        ignored=ignored,
        in_noscript=in_noscript,
        in_template=in_template,
        in_map=in_map,
        in_svg=in_svg,
        control=control,
        parent_text=parent_text,
        picture_srcsets=tuple(picture_srcsets),
        base_href=base_href,
        context=context,
    )


def _locate(text: str, elements: list[etree._Element], index: LineIndex) -> list[StartTag] | None:
    """Find each element's start tag from lxml's line numbers, or ``None`` to fall back.

    lxml says which elements exist (nothing in comments or scripts) and on which line each
    start tag ends; a small scan of those lines finds the exact text. Any doubt — a count
    that differs, an attribute that disagrees, a line number past libxml2's limit — returns
    ``None`` and the caller tokenizes the whole page instead.
    """
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for position, el in enumerate(elements):
        line = _sourceline(el)
        if line is None or line >= 65535 or not isinstance(el.tag, str):
            return None
        groups[(el.tag.lower(), line)].append(position)
    by_name: dict[str, dict[int, list[tuple[int, int, str]]]] = {}
    located: list[StartTag | None] = [None] * len(elements)
    for (name, line), positions in groups.items():
        if name in IMAGE_TAGS:
            if name not in by_name:
                by_name[name] = start_tags_by_end_line(text, index, name)
            found = by_name[name].get(line, [])
        else:  # a div/span with a role: scan near its line, not every div of the page
            found = start_tags_near_line(text, index, name, line)
        if len(found) != len(positions):
            return None
        for position, (start, end, attr_text) in zip(positions, found, strict=True):
            attrs = parse_attrs(attr_text)
            if attrs.get("src") != elements[position].get("src"):
                return None
            located[position] = StartTag(name, start, end, attrs, False, False)
    return [tag for tag in located if tag is not None]


def scan_text(
    text: str,
    page: Path,
    rel_page: str,
    *,
    with_context: bool = False,
    names: bool = True,
    keep: TagFilter | None = None,
) -> tuple[ImageElement, ...]:
    """Scan decoded page ``text`` and return its image-like elements in document order.

    ``with_context`` adds what a captioner is told (heading, figcaption, the text of an
    enclosing link). ``names=False`` skips what only the audit rules read — the enclosing
    link or button (``control`` is ``None``) and the surrounding text — about an eighth
    of the scan, for ``fix`` without a report. ``keep`` sees each element's start tag
    once it is found and leaves out those it rejects before anything else is worked out
    for them (``fix``: the elements that cannot need an alt).
    """
    return _scan(text, page, rel_page, with_context, names, keep)[0]


def _scan(
    text: str,
    page: Path,
    rel_page: str,
    with_context: bool,
    names: bool,
    keep: TagFilter | None,
) -> tuple[tuple[ImageElement, ...], int]:
    """:func:`scan_text`, and how many image-like elements the page has (kept or not)."""
    # lxml refuses str input that declares an encoding; blank the declaration out,
    # keeping its length so line numbers stay true.
    parse_text = _XML_DECL.sub(lambda m: " " * len(m.group(0)), text, count=1)
    doc: etree._Element | None
    try:
        # A plain etree parser: lxml.html's element-class lookup costs on every node.
        doc = etree.fromstring(parse_text, _parser())
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        doc = None
    elements: list[etree._Element] = []
    if doc is not None:
        found = _CANDIDATES(doc) if _IMAGE_ROLE_HOLDERS(doc) else list(doc.iter(*_IMAGE_TAG_NAMES))
        if isinstance(found, list):
            elements = [
                e
                for e in found
                if isinstance(e, etree._Element)
                and (e.tag != "input" or (e.get("type") or "").strip().lower() == "image")
            ]
    index = LineIndex(text)
    tags = _locate(text, elements, index) if elements else None
    if tags is not None:
        paired: list[etree._Element | None] = list(elements)
    else:
        tags = list(interesting_start_tags(text))
        paired = _pair(tags, elements, text)
    if not tags:
        return (), 0
    found = len(tags)
    if keep is not None:
        chosen = [i for i, tag in enumerate(tags) if keep(tag)]
        tags, paired = [tags[i] for i in chosen], [paired[i] for i in chosen]
        if not tags:
            return (), found
    page_title = None
    base_href = None
    if doc is not None:
        # iter() walks in C; ElementPath's find() would step through every element in Python
        # on the usual page without a <base>.
        title = next(doc.iter("title"), None)
        page_title = text_of(title) or None if title is not None else None
        base_href = next((b.get("href") for b in doc.iter("base") if "href" in b.attrib), None)
    positions = _line_col(text, [t.start for t in tags])
    facts = _PageFacts()
    images = tuple(
        _describe(
            tag,
            el,
            doc,
            page_title,
            with_context,
            text,
            index,
            facts,
            names,
            (page, rel_page, line, column, base_href),
        )
        for tag, el, (line, column) in zip(tags, paired, positions, strict=True)
    )
    return images, found


def page_rel_path(path: Path, root: Path) -> str:
    """How reports name the page at ``path``: relative to ``root`` when it is below it."""
    try:
        return path.relative_to(root).as_posix()  # the usual case: found under root
    except ValueError:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


def read_page(path: Path, max_bytes: int = MAX_PAGE_BYTES) -> bytes:
    """The bytes of the page at ``path`` (a symlink is followed), read safely.

    Opened without blocking, so a FIFO does not wait for a writer, and checked on the open
    descriptor (no race with a swap): only a regular file of at most ``max_bytes`` is read.

    Raises:
        OSError: the file cannot be opened or read, is not a regular file (a FIFO, a
            device, a directory), or is over the limit; ``strerror`` says which.
    """
    return read_page_version(path, max_bytes)[0]


def read_page_version(path: Path, max_bytes: int = MAX_PAGE_BYTES) -> tuple[bytes, os.stat_result]:
    """The bytes of the page at ``path``, as :func:`read_page` reads them, and the
    ``fstat`` of the file they were read from, taken before reading: the version a
    rewrite of these bytes may replace (a file changed since differs from it).

    Raises:
        OSError: as :func:`read_page`.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file", str(path))
        if info.st_size > max_bytes:
            raise OSError(0, f"over the {max_bytes} byte limit", str(path))
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:  # the file may grow after fstat: read one byte past
            chunk = os.read(fd, min(max_bytes + 1 - size, max(info.st_size + 1 - size, 1 << 16)))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise OSError(0, f"over the {max_bytes} byte limit", str(path))
        return b"".join(chunks), info
    finally:
        os.close(fd)


def scan_file(
    path: Path,
    root: Path,
    *,
    with_context: bool = False,
    names: bool = True,
    keep: TagFilter | None = None,
    data: bytes | None = None,
    rel_path: str | None = None,
    version: os.stat_result | None = None,
) -> PageScan:
    """Read, decode and scan one page (see :func:`scan_text`); read/decode failures
    become ``PageScan.error``. ``data`` and ``rel_path`` (:func:`page_rel_path`) are the
    page's bytes and name when the caller has them already, ``version`` the file's
    ``fstat`` when they were read (:func:`read_page_version`)."""
    rel = rel_path if rel_path is not None else page_rel_path(path, root)
    if data is None:
        try:
            data, version = read_page_version(path)
        except OSError as exc:
            return PageScan(path, rel, (), None, f"cannot read file: {exc.strerror or exc}")
    try:
        decoded = decode_html(data)
    except ScanError as exc:
        return PageScan(path, rel, (), None, str(exc))
    images, found = _scan(decoded.text, path, rel, with_context, names, keep)
    return PageScan(path, rel, images, decoded, data=data, found=found, version=version)
