"""Encoding sniffing as browsers do it (WHATWG prescan and labels), and safe page reads."""

from __future__ import annotations

import codecs
import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_fix import described_png

from alttext.cli import main
from alttext.errors import ScanError
from alttext.scan.encoding import PRESCAN_BYTES, decode_html, prescan, sniff_encoding
from alttext.scan.labels import _DIVERGENT, ENCODING_LABELS, codec_for_label
from alttext.scan.scanner import read_page, scan_file

DATA = Path(__file__).parent / "data" / "encoding"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


# --- the prescan ------------------------------------------------------------------------

PRESCAN_CASES: list[tuple[bytes, str | None]] = [
    (b'<meta charset="utf-8">', "utf-8"),
    (b"<meta charset=koi8-r>", "koi8-r"),
    (b"<META CHARSET='Shift_JIS'>", "shift_jis"),
    (b'<meta\tcharset = " big5 ">', " big5 "),
    (b"<meta/charset=gbk>", "gbk"),
    (b"<meta charset=euc-kr/>", None),  # unquoted runs to ">": "euc-kr/" is no label
    # A description that mentions charset is not a declaration (no http-equiv).
    (b'<meta name="description" content="Fix MySQL charset=latin1 tables">', None),
    (b'<meta name="description" content="charset=latin1"><meta charset=utf-8>', "utf-8"),
    # http-equiv content-type with content, in either order, with the extraction rules.
    (b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">', "shift_jis"),
    (b"<meta content='text/html;charset=\"euc-jp\"' http-equiv=content-type>", "euc-jp"),
    (b'<meta http-equiv=content-type content="text/html; charset = koi8-u ; x">', "koi8-u"),
    (b'<meta http-equiv=content-type content="charsetx; charset=big5">', "big5"),
    (b'<meta http-equiv=content-type content="text/html">', None),
    (b'<meta http-equiv=content-type content="charset=\'big5">', None),  # unmatched quote
    (b'<meta http-equiv=refresh content="0; charset=big5">', None),
    # charset wins over content; the first of a repeated attribute counts.
    (b'<meta http-equiv=content-type content="charset=big5" charset=gbk>', "gbk"),
    (b"<meta charset=gbk charset=big5>", "gbk"),
    # Comments, including "<!-->", and the bogus <! </ <? constructs are skipped.
    (b'<!-- <meta charset="shift_jis"> --><p>', None),
    (b"<!--><meta charset=big5>", "big5"),
    (b"<!---><meta charset=gbk> --><meta charset=big5>", "gbk"),  # "<!--->" ends there
    (b"<!doctype html><meta charset=big5>", "big5"),
    (b"<? <meta charset=big5> ?><meta charset=gbk>", "gbk"),
    (b"</ <meta charset=big5>><meta charset=gbk>", "gbk"),  # "</ " is bogus up to ">"
    # Other tags' attribute values are not markup.
    (b'<a title="<meta charset=x>"><meta charset=big5>', "big5"),
    (b"<p class='<meta charset=gbk>'>", None),
    (b"</p title='<meta charset=gbk>'>", None),
    (b"<metax charset=big5>", None),  # not a <meta>
    (b"<meta>charset=big5", None),
    # A tag cut off by the end of the input does not count.
    (b"<meta charset=big5", None),
    (b'<meta charset="big5', None),
]


@pytest.mark.parametrize(("html", "label"), PRESCAN_CASES)
def test_prescan(html: bytes, label: str | None) -> None:
    assert prescan(html)[0] == label


def test_prescan_skips_an_unknown_label_for_a_later_good_one() -> None:
    assert prescan(b"<meta charset=bogus><meta charset=koi8-r>") == ("koi8-r", "bogus")
    assert prescan(b"<meta charset=bogus>") == (None, "bogus")


def test_only_the_first_1024_bytes_count() -> None:
    pad = b"<p>" + b"x" * (PRESCAN_BYTES - 3 - len(b"<meta charset=big5>"))
    inside = pad + b"<meta charset=big5>"
    assert len(inside) == PRESCAN_BYTES
    assert sniff_encoding(inside + b"<p>") == ("web_big5hkscs", b"", True)
    across = pad + b"x<meta charset=big5>"
    assert sniff_encoding(across) == ("utf-8", b"", False)


def test_late_declaration_gets_its_own_hint() -> None:
    page = b"<p>" + b"x" * 2000 + b"<meta charset=iso-8859-1><p>caf\xe9"
    with pytest.raises(ScanError, match="after the first 1024 bytes") as raised:
        decode_html(page)
    assert "declare its charset" not in str(raised.value)
    with pytest.raises(ScanError, match="declare its charset with <meta charset"):
        decode_html(b"<p>caf\xe9")
    with pytest.raises(ScanError, match="declare its charset"):  # a late non-declaration
        decode_html(b"<p>" + b"x" * 2000 + b'<meta name=x content="nothing"><p>caf\xe9')


# --- labels and codecs ------------------------------------------------------------------

SNIFF_CASES: list[tuple[bytes, str]] = [
    (b"<p>plain", "utf-8"),
    (b'<meta charset="iso-8859-1">', "iso8859-1"),
    (b"<meta charset=latin1>", "iso8859-1"),
    (b"<meta charset=us-ascii>", "iso8859-1"),
    (b"<meta charset=windows-1252>", "cp1252"),
    (b"<meta charset=iso-8859-9>", "iso8859-9"),
    (b"<meta charset=x-user-defined>", "cp1252"),
    (b"<meta charset=shift_jis>", "web_cp932"),
    (b"<meta charset=sjis>", "web_cp932"),
    (b"<meta charset=euc-kr>", "cp949"),
    (b"<meta charset=ks_c_5601-1987>", "cp949"),
    (b"<meta charset=gb2312>", "web_gb18030"),
    (b"<meta charset=big5>", "web_big5hkscs"),
    (b"<meta charset=windows-874>", "cp874"),
    (b"<meta charset=x-mac-cyrillic>", "mac-cyrillic"),
    (b"<meta charset=iso-8859-8-i>", "iso8859-8"),
    # A declared UTF-16 in bytes readable as ASCII means UTF-8 (HTML Standard).
    (b"<meta charset=utf-16>", "utf-8"),
    (b"<meta charset=utf-16le>", "utf-8"),
    (b"<meta charset=UTF-16BE>", "utf-8"),
    (b"<meta charset=unicode>", "utf-8"),
    (b'<?xml version="1.0" encoding="ISO-8859-2"?><html>', "iso8859-2"),
    (b'<?xml version="1.0" encoding="UTF-16"?><html>', "utf-8"),
    (b'<?xml version="1.0"?><meta charset=koi8-r>', "koi8-r"),
]


@pytest.mark.parametrize(("html", "codec"), SNIFF_CASES)
def test_sniff_codec(html: bytes, codec: str) -> None:
    assert sniff_encoding(html)[0] == codec


@pytest.mark.parametrize(
    "label",
    # Codecs of Python that are no text encoding, or one browsers never honour.
    [
        "base64",
        "hex",
        "zlib",
        "rot13",
        "bz2",
        "uu",
        "quopri",
        "idna",
        "punycode",
        "undefined",
        "utf-7",
        "cp037",
        "utf-16-le",
        "utf-16-be",
        "utf_16",
        "utf-32",
        "latin-1",
        "mbcs",
        "bogus-enc",
    ],
)
def test_labels_outside_the_encoding_standard_are_unknown(label: str) -> None:
    with pytest.raises(ScanError, match=f"unknown character encoding '{label}' declared"):
        decode_html(f'<meta charset="{label}"><p>x'.encode())


@pytest.mark.parametrize("label", ENCODING_LABELS["replacement"])
def test_replacement_encodings_are_refused(label: str) -> None:
    with pytest.raises(ScanError, match="browsers do not decode"):
        decode_html(f"<meta charset={label}><p>x".encode())


@pytest.mark.parametrize(
    "label", [label for labels in ENCODING_LABELS.values() for label in labels]
)
def test_every_label_has_a_working_codec(label: str) -> None:
    if label in ENCODING_LABELS["replacement"]:
        return
    codec = codec_for_label(label.upper())  # labels match case-insensitively
    assert codecs.lookup(codec).name == codec
    assert decode_html(f"<meta charset={label}><p>x".encode()).text.endswith("<p>x")
    assert "x".encode(codec) == b"x"


def test_the_label_table_is_complete() -> None:
    # The Encoding Standard has 40 encodings and 228 labels (each label once).
    labels = [label for labels in ENCODING_LABELS.values() for label in labels]
    assert len(ENCODING_LABELS) == 40 and len(labels) == len(set(labels)) == 228


def test_bom_wins_and_utf16_pages_keep_their_bytes() -> None:
    text = '<meta charset="iso-8859-1"><img src=a alt="Größe 中">'
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        data = bom + text.encode(codec)
        decoded = decode_html(data)
        assert (decoded.encoding, decoded.bom, decoded.text) == (codec, bom, text)
        assert decoded.bom + decoded.text.encode(decoded.encoding) == data
    decoded = decode_html(codecs.BOM_UTF8 + text.encode())
    assert decoded.encoding == "utf-8" and decoded.text == text


def _browser_decodings() -> list[tuple[str, bytes, str]]:
    doc = json.loads((DATA / "browser-decodings.json").read_text(encoding="utf-8"))
    return [(d["label"], bytes.fromhex(d["bytes"]), d["text"]) for d in doc["decodings"]]


@pytest.mark.parametrize(("label", "data", "browser"), _browser_decodings())
def test_pages_read_as_browsers_read_them(label: str, data: bytes, browser: str) -> None:
    """Recorded from Chromium: we read the same text, refuse the page, or differ only where
    the code says so (and then the page's bytes still round-trip)."""
    head = f'<meta charset="{label}"><p>'.encode()
    try:
        decoded = decode_html(head + data)
    except ScanError:
        assert browser == "\ufffd" or 0x80 <= data[0] <= 0x9F  # bytes Python leaves undefined
        return
    text = decoded.text[len(head) :]
    codec = codec_for_label(label)
    if codec == "iso8859-1" and 0x80 <= data[0] <= 0x9F:
        # ISO-8859-1 pages read C1 controls where browsers read windows-1252 punctuation
        # (rewrite never writes a C1 control, so what we write reads back the same).
        assert text == data.decode("latin-1")
    elif codec.startswith("web_") and text in _DIVERGENT[codec.removeprefix("web_")]:
        assert text != browser  # a known difference, kept out of what we write
    else:
        assert text == browser


@pytest.mark.parametrize(
    ("label", "alt", "written"),
    [
        ("shift_jis", "\uff5e", b"\x81\x60"),  # FULLWIDTH TILDE: the bytes browsers read so
        ("shift_jis", "\u301c \u2212", b"&#12316; &#8722;"),  # no bytes read back as these
        ("euc-kr", "\ub620", b"\x8c\x63"),  # one windows-949 pair, not 8 bytes of jamo
        ("euc-jp", "\u00a5100", b"&#165;100"),  # not 0x5C, a backslash to browsers
        ("iso-2022-jp", "\u2212", b"&#8722;"),
        ("gbk", "\u1e3f", b"&#7743;"),
        ("koi8-u", "\u255d", b"&#9565;"),
    ],
)
def test_written_characters_read_back_the_same_in_browsers(
    label: str, alt: str, written: bytes
) -> None:
    codec = codec_for_label(label)
    assert alt.encode(codec, "xmlcharrefreplace") == written
    browser = {(lab, data): text for lab, data, text in _browser_decodings()}
    if (label, written) in browser:
        assert browser[(label, written)] == alt
    # Strict encoding (the page's own text) keeps the page's bytes as they are.
    assert alt.encode(codec) == alt.encode(codec.removeprefix("web_"), "xmlcharrefreplace")


def test_bytes_read_differently_by_browsers_still_round_trip() -> None:
    # Shift_JIS 0xA0: U+F8F0 to Python, U+FFFD to browsers; the page keeps its bytes, and
    # a new U+F8F0 is written as a reference.
    data = b'<meta charset="shift_jis"><p>\xa0</p>'
    decoded = decode_html(data)
    assert decoded.text.encode(decoded.encoding) == data
    assert "\uf8f0".encode(decoded.encoding, "xmlcharrefreplace") == b"&#63728;"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda pre, label, post: pre + b"<meta charset=" + label + b">" + post,
            st.binary(max_size=40),
            st.sampled_from(
                [label.encode() for labels in ENCODING_LABELS.values() for label in labels]
                + [b"base64", b"hex", b"idna", b"punycode", b"undefined", b"utf-7", b"rot13"]
            ),
            st.binary(max_size=80),
        ),
        st.builds(
            lambda content: b'<meta http-equiv="content-type" content="' + content + b'">',
            st.binary(max_size=60),
        ),
    )
)
@example(b"<meta charset=zlib>\x00")
def test_sniff_raises_only_scan_error_and_returns_a_working_codec(data: bytes) -> None:
    try:
        codec, bom, _ = sniff_encoding(data)
    except ScanError:
        return
    assert codecs.lookup(codec).name == codec
    assert "<p>&".encode(codec, "xmlcharrefreplace").decode(codec) == "<p>&"
    assert data.startswith(bom)
    try:
        decoded = decode_html(data)
    except ScanError:
        return
    # Re-encodable (byte-exact for all but duplicate mappings such as cp932's 0xFA40,
    # which rewrite refuses as "does not round-trip").
    assert isinstance(decoded.text.encode(decoded.encoding), bytes)


# --- reading pages ----------------------------------------------------------------------


def test_read_page_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "p.html"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(OSError, match="not a regular file"):
        read_page(fifo)
    assert time.monotonic() - started < 5  # did not wait for a writer
    (tmp_path / "zero.html").symlink_to("/dev/zero")
    with pytest.raises(OSError, match="not a regular file"):
        read_page(tmp_path / "zero.html")
    with pytest.raises(OSError, match="not a regular file"):
        read_page(tmp_path)


def test_read_page_follows_symlinks_and_caps_the_size(tmp_path: Path) -> None:
    real = write(tmp_path / "real.html", "<img src=a>")
    (tmp_path / "link.html").symlink_to(real)
    assert read_page(tmp_path / "link.html") == b"<img src=a>"
    assert read_page(real, max_bytes=11) == b"<img src=a>"
    with pytest.raises(OSError, match="over the 10 byte limit"):
        read_page(real, max_bytes=10)
    with pytest.raises(FileNotFoundError):
        read_page(tmp_path / "gone.html")


def test_scan_file_turns_bad_files_into_page_errors(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.html")
    page = scan_file(tmp_path / "p.html", tmp_path)
    assert page.error == "cannot read file: not a regular file"


# --- end to end -------------------------------------------------------------------------


def test_fix_writes_utf8_into_a_page_whose_description_mentions_a_charset(
    tmp_path: Path,
) -> None:
    described_png(tmp_path / "a.png", "Crème brûlée on a plate")
    html = '<meta name="description" content="Fix MySQL charset=latin1 tables"><p>Café</p>'
    page = write(tmp_path / "p.html", html + '<img src="a.png">')
    code, _ = run("fix", str(tmp_path), "-q")
    assert code == 0
    assert page.read_bytes() == (html + '<img alt="Crème brûlée on a plate" src="a.png">').encode()


def test_fix_commented_out_declaration_is_ignored(tmp_path: Path) -> None:
    described_png(tmp_path / "a.png", "Grüne Wiese")
    html = '<!-- <meta charset="shift_jis"> --><p>Schön</p>'
    page = write(tmp_path / "p.html", html + '<img src="a.png">')
    assert run("fix", str(tmp_path), "-q")[0] == 0
    assert page.read_bytes() == (html + '<img alt="Grüne Wiese" src="a.png">').encode()


def test_a_non_text_codec_label_is_a_page_error_and_the_run_goes_on(tmp_path: Path) -> None:
    described_png(tmp_path / "a.png", "A navy rectangle")
    bad = tmp_path / "b64.html"
    bad.write_bytes(b'<meta charset="base64"><img src="a.png">')
    good = write(tmp_path / "ok.html", '<img src="a.png">')
    code, out = run("fix", str(tmp_path))
    assert code != 0 and "Traceback" not in out
    assert "b64.html" in out and "unknown character encoding 'base64' declared" in out
    assert bad.read_bytes() == b'<meta charset="base64"><img src="a.png">'
    assert good.read_bytes() == b'<img alt="A navy rectangle" src="a.png">'
    code, out = run("check", str(tmp_path))
    assert code == 1 and "b64.html: error unknown character encoding 'base64'" in out


@pytest.mark.parametrize(
    ("label", "caption", "written"),
    [
        ("euc-kr", "똠 가게", "똠 가게".encode("cp949")),
        ("shift_jis", "富士山 \uff5e", "富士山 \uff5e".encode("cp932")),
        ("shift_jis", "1\u301c2 \u22123", b"1&#12316;2 &#8722;3"),
    ],
)
def test_fix_cjk_pages_get_the_bytes_browsers_read_back(
    tmp_path: Path, label: str, caption: str, written: bytes
) -> None:
    described_png(tmp_path / "a.png", caption)
    head = f'<meta charset="{label}"><p>'.encode() + "日本語".encode(codec_for_label(label))
    page = tmp_path / "p.html"
    page.write_bytes(head + b'<img src="a.png">')
    assert run("fix", str(tmp_path), "-q")[0] == 0
    assert page.read_bytes() == head + b'<img alt="' + written + b'" src="a.png">'
    # What browsers show is the caption: their decoders are cp949 / cp932 here (see
    # test_pages_read_as_browsers_read_them_or_are_refused).
    shown = page.read_bytes().decode({"euc-kr": "cp949", "shift_jis": "cp932"}[label])
    assert f'alt="{caption}"' in html.unescape(shown)


def test_check_reports_a_fifo_and_dev_zero_quickly(tmp_path: Path) -> None:
    write(tmp_path / "ok.html", '<img src="a.png" alt="A chart">')
    os.mkfifo(tmp_path / "fifo.html")
    (tmp_path / "zero.html").symlink_to("/dev/zero")
    started = time.monotonic()
    code, out = run("check", str(tmp_path))
    assert time.monotonic() - started < 60
    assert code == 1 and "Traceback" not in out
    assert "fifo.html: error cannot read file: not a regular file" in out
    assert "zero.html: error cannot read file: not a regular file" in out


def test_fix_reports_a_fifo_quickly(tmp_path: Path) -> None:
    # In a child process with a timeout: the bug being guarded against is a hang.
    write(tmp_path / "ok.html", '<img src="a.png" alt="A chart">')
    os.mkfifo(tmp_path / "fifo.html")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "alttext", "fix", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "ALTTEXT_CACHE_DIR": str(tmp_path / "cache")},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("alttext fix hung on a FIFO")
    assert "not a regular file" in proc.stdout + proc.stderr
