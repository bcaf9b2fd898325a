"""The Encoding Standard's labels, and the Python codec that decodes each as browsers do.

A page names its encoding with a label (``latin1``, ``Shift_JIS``, ``utf8``...). Browsers
know exactly the labels of https://encoding.spec.whatwg.org/#names-and-labels and map
each to one encoding; this module holds that table, and for each encoding the Python
codec whose bytes and characters agree with browsers'. Where Python's codec differs on a
few characters, a ``web_<codec>`` wrapper (registered with :mod:`codecs` on import)
writes those as character references instead, so what a rewrite adds reads back the same
in a browser. :mod:`alttext.scan.encoding` finds the label in a page.
"""

from __future__ import annotations

import codecs
import re

from alttext.errors import ScanError

#: ASCII whitespace, as the Encoding Standard trims a label.
ASCII_WHITESPACE = "\t\n\x0c\r "

#: The Encoding Standard's table of names and labels (encoding -> its labels), verbatim.
ENCODING_LABELS: dict[str, tuple[str, ...]] = {
    "UTF-8": (
        "unicode-1-1-utf-8",
        "unicode11utf8",
        "unicode20utf8",
        "utf-8",
        "utf8",
        "x-unicode20utf8",
    ),
    "IBM866": ("866", "cp866", "csibm866", "ibm866"),
    "ISO-8859-2": (
        "csisolatin2",
        "iso-8859-2",
        "iso-ir-101",
        "iso8859-2",
        "iso88592",
        "iso_8859-2",
        "iso_8859-2:1987",
        "l2",
        "latin2",
    ),
    "ISO-8859-3": (
        "csisolatin3",
        "iso-8859-3",
        "iso-ir-109",
        "iso8859-3",
        "iso88593",
        "iso_8859-3",
        "iso_8859-3:1988",
        "l3",
        "latin3",
    ),
    "ISO-8859-4": (
        "csisolatin4",
        "iso-8859-4",
        "iso-ir-110",
        "iso8859-4",
        "iso88594",
        "iso_8859-4",
        "iso_8859-4:1988",
        "l4",
        "latin4",
    ),
    "ISO-8859-5": (
        "csisolatincyrillic",
        "cyrillic",
        "iso-8859-5",
        "iso-ir-144",
        "iso8859-5",
        "iso88595",
        "iso_8859-5",
        "iso_8859-5:1988",
    ),
    "ISO-8859-6": (
        "arabic",
        "asmo-708",
        "csiso88596e",
        "csiso88596i",
        "csisolatinarabic",
        "ecma-114",
        "iso-8859-6",
        "iso-8859-6-e",
        "iso-8859-6-i",
        "iso-ir-127",
        "iso8859-6",
        "iso88596",
        "iso_8859-6",
        "iso_8859-6:1987",
    ),
    "ISO-8859-7": (
        "csisolatingreek",
        "ecma-118",
        "elot_928",
        "greek",
        "greek8",
        "iso-8859-7",
        "iso-ir-126",
        "iso8859-7",
        "iso88597",
        "iso_8859-7",
        "iso_8859-7:1987",
        "sun_eu_greek",
    ),
    "ISO-8859-8": (
        "csiso88598e",
        "csisolatinhebrew",
        "hebrew",
        "iso-8859-8",
        "iso-8859-8-e",
        "iso-ir-138",
        "iso8859-8",
        "iso88598",
        "iso_8859-8",
        "iso_8859-8:1988",
        "visual",
    ),
    "ISO-8859-8-I": ("csiso88598i", "iso-8859-8-i", "logical"),
    "ISO-8859-10": (
        "csisolatin6",
        "iso-8859-10",
        "iso-ir-157",
        "iso8859-10",
        "iso885910",
        "l6",
        "latin6",
    ),
    "ISO-8859-13": ("iso-8859-13", "iso8859-13", "iso885913"),
    "ISO-8859-14": ("iso-8859-14", "iso8859-14", "iso885914"),
    "ISO-8859-15": (
        "csisolatin9",
        "iso-8859-15",
        "iso8859-15",
        "iso885915",
        "iso_8859-15",
        "l9",
    ),
    "ISO-8859-16": ("iso-8859-16",),
    "KOI8-R": ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"),
    "KOI8-U": ("koi8-ru", "koi8-u"),
    "macintosh": ("csmacintosh", "mac", "macintosh", "x-mac-roman"),
    "windows-874": (
        "dos-874",
        "iso-8859-11",
        "iso8859-11",
        "iso885911",
        "tis-620",
        "windows-874",
    ),
    "windows-1250": ("cp1250", "windows-1250", "x-cp1250"),
    "windows-1251": ("cp1251", "windows-1251", "x-cp1251"),
    "windows-1252": (
        "ansi_x3.4-1968",
        "ascii",
        "cp1252",
        "cp819",
        "csisolatin1",
        "ibm819",
        "iso-8859-1",
        "iso-ir-100",
        "iso8859-1",
        "iso88591",
        "iso_8859-1",
        "iso_8859-1:1987",
        "l1",
        "latin1",
        "us-ascii",
        "windows-1252",
        "x-cp1252",
    ),
    "windows-1253": ("cp1253", "windows-1253", "x-cp1253"),
    "windows-1254": (
        "cp1254",
        "csisolatin5",
        "iso-8859-9",
        "iso-ir-148",
        "iso8859-9",
        "iso88599",
        "iso_8859-9",
        "iso_8859-9:1989",
        "l5",
        "latin5",
        "windows-1254",
        "x-cp1254",
    ),
    "windows-1255": ("cp1255", "windows-1255", "x-cp1255"),
    "windows-1256": ("cp1256", "windows-1256", "x-cp1256"),
    "windows-1257": ("cp1257", "windows-1257", "x-cp1257"),
    "windows-1258": ("cp1258", "windows-1258", "x-cp1258"),
    "x-mac-cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    "GBK": (
        "chinese",
        "csgb2312",
        "csiso58gb231280",
        "gb2312",
        "gb_2312",
        "gb_2312-80",
        "gbk",
        "iso-ir-58",
        "x-gbk",
    ),
    "gb18030": ("gb18030",),
    "Big5": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "EUC-JP": ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp"),
    "ISO-2022-JP": ("csiso2022jp", "iso-2022-jp"),
    "Shift_JIS": (
        "csshiftjis",
        "ms932",
        "ms_kanji",
        "shift-jis",
        "shift_jis",
        "sjis",
        "windows-31j",
        "x-sjis",
    ),
    "EUC-KR": (
        "cseuckr",
        "csksc56011987",
        "euc-kr",
        "iso-ir-149",
        "korean",
        "ks_c_5601-1987",
        "ks_c_5601-1989",
        "ksc5601",
        "ksc_5601",
        "windows-949",
    ),
    "replacement": (
        "csiso2022kr",
        "hz-gb-2312",
        "iso-2022-cn",
        "iso-2022-cn-ext",
        "iso-2022-kr",
        "replacement",
    ),
    "UTF-16BE": ("unicodefffe", "utf-16be"),
    "UTF-16LE": (
        "csunicode",
        "iso-10646-ucs-2",
        "ucs-2",
        "unicode",
        "unicodefeff",
        "utf-16",
        "utf-16le",
    ),
    "x-user-defined": ("x-user-defined",),
}

# Characters that the nearest Python codec maps to bytes browsers read as another character
# (Chromium 156 decoding every byte pair and every encodable character of the BMP): Python's
# cp932 writes U+2212 MINUS as 0x817C, which browsers read as U+FF0D; its euc_jp writes
# YEN SIGN as 0x5C, a backslash to browsers. The ``web_*`` codecs below are those codecs,
# except that new text (encoded with an error handler: rewrite's ``xmlcharrefreplace``)
# gets these characters as ``&#NNNN;``. Strict encoding still reproduces them, so a page
# that holds such bytes round-trips unchanged (we read them as Python does, a known
# difference that never changes a byte).
_DIVERGENT: dict[str, str] = {
    "cp932": "\u00a2\u00a3\u00ac\u2016\u2212\u301c\uf8f0\uf8f1\uf8f2\uf8f3",
    "euc_jp": "\u00a2\u00a3\u00a5\u00ac\u2016\u203e\u2212\u3000\u301c",
    "iso2022_jp": "\u00a2\u00a3\u00ac\u2016\u2212\u301c",
    # Browsers' KOI8-U is KOI8-RU (0xAE/0xBE are \u045e/\u040e); Python has no KOI8-RU and
    # reads those bytes as box-drawing characters.
    "koi8_u": "\u255d\u256c",
    # Browsers follow GB18030-2022, which moved these from the Private Use Area.
    "gb18030": (
        "\u1e3f\ue5e5\ue78d\ue78e\ue78f\ue790\ue791\ue792\ue793\ue794\ue795\ue796"
        "\ue7c7\ue81e\ue826\ue82b\ue82c\ue832\ue843\ue854\ue864"
    ),
    "big5hkscs": "\u00a2\u00a3\u00a5\u2022\u203e\u223c\u2609\u2641\uff0f\uff3c\uff64",
}
_DIVERGENT_REASON = "browsers would read its bytes as another character"


def _web_codec(base: str, divergent: str) -> codecs.CodecInfo:
    """``base`` without the ``divergent`` characters (see :data:`_DIVERGENT`)."""
    name = "web_" + base
    pattern = re.compile("[" + re.escape(divergent) + "]")

    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        if errors == "strict":  # the page's own text: its bytes as they are
            return codecs.encode(text, base), len(text)
        out: list[bytes] = []
        pos = 0
        for match in pattern.finditer(text):
            if match.start() < pos:
                continue  # an error handler already consumed it
            out.append(codecs.encode(text[pos : match.start()], base, errors))
            exc = UnicodeEncodeError(name, text, match.start(), match.end(), _DIVERGENT_REASON)
            replacement, pos = codecs.lookup_error(errors)(exc)
            out.append(
                replacement
                if isinstance(replacement, bytes)
                else codecs.encode(replacement, base, errors)
            )
        out.append(codecs.encode(text[pos:], base, errors))
        return b"".join(out), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        data = bytes(data)
        return codecs.decode(data, base, errors), len(data)

    return codecs.CodecInfo(encode, decode, name=name)  # type: ignore[arg-type]


_WEB_CODECS = {f"web_{base}": _web_codec(base, chars) for base, chars in _DIVERGENT.items()}
# Registering is cheap (a dict lookup per unknown codec name) and every user of a
# DecodedHTML.encoding imports this module first, so the names always resolve.
codecs.register(_WEB_CODECS.get)

# The Python codec (``codecs.lookup`` name) that decodes each encoding as browsers do;
# ``None``: browsers decode nothing (the "replacement" encoding). Python's windows-125x
# codecs leave a few bytes undefined that browsers map to C1 controls (0x81 in cp1252...):
# such a page is refused with the byte's offset, never mis-read.
_CODECS: dict[str, str | None] = {
    "UTF-8": "utf-8",
    "IBM866": "cp866",
    "ISO-8859-2": "iso8859-2",
    "ISO-8859-3": "iso8859-3",
    "ISO-8859-4": "iso8859-4",
    "ISO-8859-5": "iso8859-5",
    "ISO-8859-6": "iso8859-6",
    "ISO-8859-7": "iso8859-7",
    "ISO-8859-8": "iso8859-8",
    # The same bytes and characters as ISO-8859-8; "-I" only changes the bidi direction.
    "ISO-8859-8-I": "iso8859-8",
    "ISO-8859-10": "iso8859-10",
    "ISO-8859-13": "iso8859-13",
    "ISO-8859-14": "iso8859-14",
    "ISO-8859-15": "iso8859-15",
    "ISO-8859-16": "iso8859-16",
    "KOI8-R": "koi8-r",
    "KOI8-U": "web_koi8_u",
    "macintosh": "mac-roman",
    "windows-874": "cp874",
    "windows-1250": "cp1250",
    "windows-1251": "cp1251",
    "windows-1252": "cp1252",
    "windows-1253": "cp1253",
    "windows-1254": "cp1254",
    "windows-1255": "cp1255",
    "windows-1256": "cp1256",
    "windows-1257": "cp1257",
    "windows-1258": "cp1258",
    # Python's mac-cyrillic matches browsers' x-mac-cyrillic on every byte.
    "x-mac-cyrillic": "mac-cyrillic",
    # Browsers decode GBK with the gb18030 decoder (the Encoding Standard says so), and
    # what gb18030 encodes beyond GBK (four-byte sequences) they read back too.
    "GBK": "web_gb18030",
    "gb18030": "web_gb18030",
    # Browsers' Big5 is Big5-HKSCS (the Encoding Standard's index-big5).
    "Big5": "web_big5hkscs",
    # Python has no eucJP-ms/CP51932; euc_jp differs from browsers only in _DIVERGENT.
    "EUC-JP": "web_euc_jp",
    "ISO-2022-JP": "web_iso2022_jp",
    # Browsers decode Shift_JIS as Windows-31J (cp932): 0x8160 is U+FF5E, not U+301C.
    "Shift_JIS": "web_cp932",
    # Browsers decode EUC-KR as windows-949 (cp949): all 11,172 precomposed syllables,
    # not Python's euc-kr that spells the rare ones as 8-byte jamo sequences.
    "EUC-KR": "cp949",
    "replacement": None,
    # Only reached through a BOM in practice: a declaration of UTF-16 means UTF-8 (below).
    "UTF-16BE": "utf-16-be",
    "UTF-16LE": "utf-16-le",
    # The prescan turns x-user-defined into windows-1252 (HTML Standard).
    "x-user-defined": "cp1252",
}


# Labels naming an ISO set that browsers read as its Windows superset: decoded with the
# ISO codec, which agrees with browsers on every byte but 0x80-0x9F (C1 controls here,
# punctuation there) and decodes every byte; and what we write (never a C1 control:
# rewrite drops them) reads back the same in both. This keeps ``&#8364;`` for a euro sign
# written into an ISO-8859-1 page, right for every reader, browser or not.
def _iso_labels_of(windows: str) -> list[str]:
    """The labels of a Windows encoding that name its ISO (or ASCII) subset."""
    return [
        label
        for label in ENCODING_LABELS[windows]
        if not label.startswith(("cp125", "windows-125", "x-cp125"))
    ]


_ISO_SUPERSET_LABELS: dict[str, str] = {
    **dict.fromkeys(_iso_labels_of("windows-1252"), "iso8859-1"),
    **dict.fromkeys(_iso_labels_of("windows-1254"), "iso8859-9"),
}

_LABELS: dict[str, str] = {
    label: encoding for encoding, labels in ENCODING_LABELS.items() for label in labels
}


def whatwg_encoding(label: str) -> str | None:
    """The Encoding Standard's "get an encoding": the encoding ``label`` names, or None."""
    return _LABELS.get(label.strip(ASCII_WHITESPACE).lower())


def codec_for_label(label: str) -> str:
    """The Python codec that reads a page declaring ``label`` in a ``<meta>`` as browsers do.

    Raises:
        ScanError: the label is not one browsers know, or names an encoding they refuse
            to decode (the "replacement" encoding: ISO-2022-KR, HZ-GB-2312...).
    """
    key = label.strip(ASCII_WHITESPACE).lower()
    encoding = _LABELS.get(key)
    if encoding is None:
        raise ScanError(f"unknown character encoding {label[:60]!r} declared")
    if encoding in ("UTF-16BE", "UTF-16LE"):
        # A declaration readable as ASCII is not UTF-16: the HTML Standard says UTF-8.
        return "utf-8"
    codec = _ISO_SUPERSET_LABELS.get(key) or _CODECS[encoding]
    if codec is None:
        raise ScanError(
            f"character encoding {label[:60]!r} declared, which browsers do not decode "
            "(they show the page as a single replacement character)"
        )
    return codec
