"""The scanner: exact locations and snippets, alt states, context, real-world HTML."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from conftest import write
from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.errors import ScanError
from alttext.scan.encoding import decode_html
from alttext.scan.model import AltState
from alttext.scan.scanner import iter_html_files, scan_file, scan_text
from alttext.scan.tokens import interesting_start_tags


def scan(html: str, **kw: bool):  # type: ignore[no-untyped-def]
    return scan_text(html, Path("p.html"), "p.html", **kw)


def test_location_is_where_the_start_tag_begins_even_over_several_lines() -> None:
    html = '<p>\n\tx <img\n   src="a.png"\n   alt="a > b">\n<IMG SRC=b.png>'
    first, second = scan(html)
    assert (first.line, first.column) == (2, 4)  # tab counts as one character
    assert first.snippet == '<img\n   src="a.png"\n   alt="a > b">'
    assert first.alt == "a > b"
    assert (second.line, second.column) == (5, 1)
    assert second.snippet == "<IMG SRC=b.png>"
    assert second.element == "img" and second.src == "b.png"


def test_column_counts_characters_not_bytes() -> None:
    (image,) = scan("<p>Größe € <img src=x.png></p>")
    assert image.column == 12


@pytest.mark.parametrize(
    ("attr", "state"),
    [
        ("", AltState.MISSING),
        ('alt=""', AltState.EMPTY),
        ("alt", AltState.EMPTY),
        ('alt="  \t"', AltState.WHITESPACE),
        ('alt="A cat"', AltState.PRESENT),
        ("alt=Cat", AltState.PRESENT),
        ("alt='&quot;Hi&quot;'", AltState.PRESENT),
    ],
)
def test_alt_states(attr: str, state: AltState) -> None:
    (image,) = scan(f"<img src=a.png {attr}>")
    assert image.alt_state is state


def test_first_duplicate_attribute_wins_like_html() -> None:
    (image,) = scan('<img alt="first" alt="second" src=a.png>')
    assert image.alt == "first"


def test_not_images_in_script_style_comments_textarea_title_cdata() -> None:
    html = (
        "<title><img src=t></title><script>var s = '<img src=x>';</script>"
        "<style>/* <img src=y> */</style><!-- <img src=z> --><textarea><img src=q></textarea>"
        "<svg><![CDATA[<img src=c>]]></svg><div title='<img src=attr>'></div><img src=real>"
    )
    images = scan(html)
    assert [i.src for i in images if i.element == "img"] == ["real"]


def test_unterminated_comment_hides_the_rest() -> None:
    assert [i.element for i in scan("<img src=a><!-- <img src=b>")] == ["img"]


def test_hidden_template_noscript_and_ignore_markers() -> None:
    html = (
        '<div aria-hidden="true"><img src=a></div><img src=b hidden>'
        "<template><img src=c></template><noscript><img src=d></noscript>"
        "<section data-alttext-ignore><img src=e></section><img src=f>"
    )
    a, b, c, d, e, f = scan(html)
    assert a.hidden and b.hidden and not f.hidden
    assert c.in_template and d.in_noscript and e.ignored
    assert not (f.in_template or f.in_noscript or f.ignored)


def test_hidden_images_carry_no_control_the_visible_ones_do() -> None:
    icon, photo = scan('<a href="/x"><svg aria-hidden="true"></svg><img src=p alt=""></a>')
    assert icon.hidden and icon.control is None
    assert photo.control is not None and photo.control.href == "/x"
    assert not photo.control.named_by_content


def test_context_lang_link_figure_heading_title() -> None:
    html = (
        '<html lang="de"><head><title>Seite</title></head><body><h2>Intro</h2>'
        '<a href="/home" title="x">Start <img src=a></a>'
        "<figure><img src=b><figcaption> A  caption </figcaption></figure>"
        '<div lang="fr"><button><img src=c></button></div></body></html>'
    )
    a, b, c = scan(html, with_context=True)
    assert a.lang == "de" and c.lang == "fr"
    assert a.control is not None and a.control.kind == "link"
    assert a.control.href == "/home" and a.control.text == "Start" and a.control.has_name
    assert a.context.page_title == "Seite" and a.context.heading == "Intro"
    assert b.context.figcaption == "A caption" and b.control is None
    assert c.control is not None and c.control.kind == "button" and c.context.control == "button"


def test_aria_labelledby_resolves_to_text_in_the_page() -> None:
    html = '<p id="l1">Sales</p><span id=l2>2024</span><img src=a aria-labelledby="l1 l2 nope">'
    (image,) = scan(html)
    assert image.labelledby_text == "Sales 2024"
    assert image.named_by_aria()


def test_image_like_elements_and_picture_sources() -> None:
    html = (
        "<picture><source srcset='a.webp 1x, a2.webp 2x'><img src=a.png></picture>"
        "<input type=image src=btn.png><map><area href=/x></map><div role=img></div>"
        "<svg role=img><title>Chart</title></svg><object data=o.svg></object><span role=button>"
    )
    images = scan(html)
    assert [i.element for i in images] == ["img", "input", "area", "div", "svg", "object"]
    assert images[0].picture_srcsets == ("a.webp 1x, a2.webp 2x",)
    assert images[4].svg_title == "Chart"


@pytest.mark.parametrize(
    "markup",
    [
        "<nav role=navigation><a role=button href=/x>Go</a></nav>",  # roles that are not images
        "<div role=IMG></div><div role='img presentation'></div>",  # axe matches [role='img']
        "<input type=text><input><input type=submit value=Go>",  # inputs that are not images
    ],
)
def test_elements_that_are_not_images_are_not_recorded(markup: str) -> None:
    # Both paths agree: the tree's candidates, and the tokenizer used when they disagree.
    assert scan(markup) == ()
    assert [t.name for t in interesting_start_tags(markup)] == []


def test_image_roles_and_input_types_in_any_case() -> None:
    html = "<INPUT TYPE=IMAGE src=b.png><svg><g role=graphics-symbol></g></svg><p role=img>"
    assert [i.element for i in scan(html)] == ["input", "svg", "g", "p"]
    assert [t.name for t in interesting_start_tags(html)] == ["input", "svg", "g", "p"]


def test_malformed_markup_still_finds_images() -> None:
    html = "<div><p><img src=a <b><table><tr><img src=b alt=x></table></i></div><img src=c"
    images = scan(html)
    assert [i.src for i in images] == ["a", "b"]  # an unclosed tag at EOF is not a tag


def test_crlf_lines() -> None:
    (image,) = scan("<p>\r\n\r\n  <img src=a>\r\n")
    assert (image.line, image.column) == (3, 3)


def test_encodings(tmp_path: Path) -> None:
    latin = write(
        tmp_path / "l.html",
        '<meta charset="iso-8859-1"><p>Café</p><img src="é.png" alt="Größe">',
        "latin-1",
    )
    (image,) = scan_file(latin, tmp_path).images
    assert image.alt == "Größe" and image.src == "é.png"
    bom = tmp_path / "b.html"
    bom.write_bytes(codecs.BOM_UTF8 + "<img src=a alt='ü'>".encode())
    page = scan_file(bom, tmp_path)
    assert page.decoded is not None and page.decoded.bom == codecs.BOM_UTF8
    assert page.images[0].column == 1 and page.images[0].alt == "ü"
    utf16 = tmp_path / "u.html"
    utf16.write_bytes(codecs.BOM_UTF16_LE + "<img src=a>".encode("utf-16-le"))
    assert scan_file(utf16, tmp_path).images[0].src == "a"
    xml = write(tmp_path / "x.xhtml", '<?xml version="1.0" encoding="UTF-8"?>\n<img src=a />')
    assert scan_file(xml, tmp_path).images[0].line == 2


def test_undecodable_and_unreadable_files_are_per_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_bytes(b"<img src=a>\xff\xfe\xfa")
    page = scan_file(bad, tmp_path)
    assert page.error is not None and "utf-8" in page.error and "offset 11" in page.error
    unknown = write(tmp_path / "unk.html", '<meta charset="klingon"><img>')
    assert "klingon" in (scan_file(unknown, tmp_path).error or "")
    missing = scan_file(tmp_path / "gone.html", tmp_path)
    assert missing.error is not None and missing.rel_path == "gone.html"


def test_decode_rejects_bad_utf8_with_hint() -> None:
    with pytest.raises(ScanError, match="declare its charset"):
        decode_html(b"\xe9t\xe9")


def test_iter_html_files_recurses_sorted_with_excludes(tmp_path: Path) -> None:
    for rel in ("b.html", "a/x.htm", "a/y.xhtml", "drafts/z.html", "a/n.txt", "c.amp.html"):
        write(tmp_path / rel, "")
    found = [
        p.relative_to(tmp_path).as_posix()
        for p in iter_html_files([tmp_path], ["drafts/*", "*.amp.html"])
    ]
    assert found == ["b.html", "a/x.htm", "a/y.xhtml"]


_attr_value = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(alphabet="ab <>/\"'=\n-!", max_size=40),
    alt=_attr_value,
)
def test_property_snippet_is_the_exact_source_text(before: str, alt: str) -> None:
    quoted = '"' + alt.replace('"', "&quot;") + '"'
    html = f"<p>x</p>\n<img src=a.png alt={quoted}>"
    for image in scan(html):
        assert html[image.start : image.end] == image.snippet
    last = scan(html)[-1]
    assert last.snippet == f"<img src=a.png alt={quoted}>"
    import html as html_lib

    # (a raw U+0000 reads as U+FFFD, as in the HTML tokenizer)
    assert last.alt == html_lib.unescape(alt.replace('"', "&quot;").replace("\x00", "\ufffd"))
    noisy = before + html
    for image in scan(noisy):
        assert noisy[image.start : image.end] == image.snippet


def test_without_names_only_what_the_rules_read_is_left_out() -> None:
    html = (
        "<html lang=fr><body><a href=/x><img src=a.png></a>"
        "<p>Un chat <img src=b.png alt='Un chat'></p><div hidden><img src=c.png></div>"
    )
    full = scan_text(html, Path("p.html"), "p.html")
    light = scan_text(html, Path("p.html"), "p.html", names=False)
    assert full[0].control is not None and full[1].parent_text == "Un chat"
    assert light[0].control is None and light[1].parent_text is None
    for a, b in zip(full, light, strict=True):
        assert (a.line, a.column, a.snippet, a.attrs, a.lang, a.hidden, a.alt_state) == (
            b.line,
            b.column,
            b.snippet,
            b.attrs,
            b.lang,
            b.hidden,
            b.alt_state,
        )


def test_page_title_and_first_base_with_href() -> None:
    html = (
        '<html><head><title> My  page </title><base target="_blank"><base href="/static/">'
        "</head><body><svg><title>Icon</title></svg><img src=a></body></html>"
    )
    images = scan(html, with_context=True)
    assert [i.base_href for i in images] == ["/static/", "/static/"]
    assert images[1].context.page_title == "My page"
    assert scan("<img src=a>")[0].base_href is None
