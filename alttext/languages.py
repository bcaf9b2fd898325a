"""Which written language a BCP 47 tag (a page's ``lang``) asks for.

An alt written for ``de-AT`` serves a ``de`` page: a reader needs the language, not the
region. Most languages are written in one script, so their primary subtag is enough. A
few are written in several, and there the script is part of what a reader can read:
Traditional Chinese (``zh-TW``, ``zh-HK``, ``zh-Hant``) is not Simplified (``zh-CN``,
``zh``), Serbian in Latin script (``sr-Latn``, ``sr-ME``) is not Serbian in Cyrillic.
:func:`written_language` says ``zh-Hant`` for the first and ``zh`` for the second.
"""

from __future__ import annotations

__all__ = ["written_language"]

#: The languages whose likely script depends on the region: their default script, and the
#: regions written in another. From CLDR's likely subtags (as langcodes 3.5.1 ships them):
#: every language whose ``<lang>-<region>`` entry names a script its ``<lang>`` entry does
#: not. A tag with an explicit script subtag (``hi-Latn``) needs no table.
_SCRIPTS: dict[str, tuple[str, dict[str, str]]] = {
    "az": ("Latn", {"IQ": "Arab", "IR": "Arab", "RU": "Cyrl"}),
    "ha": ("Latn", {"CM": "Arab", "SD": "Arab"}),
    "kk": ("Cyrl", {"AF": "Arab", "CN": "Arab", "IR": "Arab", "MN": "Arab"}),
    "ku": ("Latn", {"LB": "Arab"}),
    "ky": ("Cyrl", {"CN": "Arab", "TR": "Latn"}),
    "man": ("Latn", {"GN": "Nkoo"}),
    "mn": ("Cyrl", {"CN": "Mong"}),
    "ms": ("Latn", {"CC": "Arab"}),
    "pa": ("Guru", {"PK": "Arab"}),
    "rif": ("Tfng", {"NL": "Latn"}),
    "sr": ("Cyrl", {"ME": "Latn", "RO": "Latn", "RU": "Latn", "TR": "Latn"}),
    "tg": ("Cyrl", {"PK": "Arab"}),
    "ug": ("Arab", {"KZ": "Cyrl", "MN": "Cyrl"}),
    "unr": ("Beng", {"NP": "Deva"}),
    "uz": ("Latn", {"AF": "Arab", "CN": "Cyrl"}),
    "yue": ("Hant", {"CN": "Hans"}),
    "zh": ("Hans", dict.fromkeys(
        ("AU", "BN", "GB", "GF", "HK", "ID", "MO", "PA", "PF", "PH", "SR", "TH", "TW", "US",
         "VN"),
        "Hant",
    )),
}  # fmt: skip


def written_language(tag: str) -> str:
    """The written language ``tag`` asks for: its primary language subtag, lower case,
    and ``-<Script>`` when the language is written in another script than its usual one.

    ``de-AT`` → ``de``; ``zh-TW`` and ``zh-Hant-CN`` → ``zh-Hant``; ``zh-CN``, ``zh-Hans``
    → ``zh``; ``sr-Latn`` → ``sr-Latn``; ``zh-yue`` (an extended language subtag) → ``yue``.
    An ``_`` counts as ``-`` (``zh_TW``, as locales write it). Case does not matter.
    """
    subtags = [part for part in tag.strip().replace("_", "-").split("-") if part]
    if not subtags:
        return ""
    language, rest = subtags[0].lower(), subtags[1:]
    # An extended language subtag names the language itself (zh-yue is yue).
    if rest and len(rest[0]) == 3 and rest[0].isalpha() and len(language) <= 3:
        language, rest = rest[0].lower(), rest[1:]
    script = region = None
    if rest and len(rest[0]) == 4 and rest[0].isalpha():
        script, rest = rest[0].title(), rest[1:]
    if rest and _is_region(rest[0]):
        region = rest[0].upper()
    usual, by_region = _SCRIPTS.get(language, (None, {}))
    if script is None and region is not None:
        script = by_region.get(region)
    return language if script is None or script == usual else f"{language}-{script}"


def _is_region(subtag: str) -> bool:
    """Two letters (``TW``) or three digits (``419``, a UN M.49 area)."""
    return (len(subtag) == 2 and subtag.isalpha()) or (len(subtag) == 3 and subtag.isdigit())
