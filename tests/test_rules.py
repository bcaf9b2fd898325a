"""Each rule with passing and failing markup (axe verdicts for the axe rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alttext.captioners.polish import polish
from alttext.errors import NoCaption
from alttext.rules.checks import (
    RuleSettings,
    audit_page,
    is_filename_alt,
    is_placeholder_alt,
)
from alttext.rules.model import RULES, Severity
from alttext.scan.scanner import scan_text


def rules_for(html: str, settings: RuleSettings | None = None, probe=None) -> list[str]:  # type: ignore[no-untyped-def]
    images = scan_text(html, Path("p.html"), "p.html")
    return [f.rule for f in audit_page(images, settings, probe)]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # image-alt: axe passes any alt attribute (even empty), aria-label, labelledby, title,
        # presentational roles; fails a missing or whitespace-only alt.
        ("<img src=a.png>", ["image-alt"]),
        ('<img src=a.png alt=" ">', ["image-alt"]),
        ('<img src=a.png alt="A red bicycle">', []),
        ('<img src=a.png aria-label="A red bicycle">', []),
        ('<img src=a.png aria-label="  ">', ["image-alt"]),
        ('<p id=t>Sales</p><img src=a.png aria-labelledby="t">', []),
        ('<img src=a.png aria-labelledby="missing">', ["image-alt"]),
        ('<img src=a.png title="Sales chart">', []),
        ('<img src=a.png role="presentation">', []),
        ('<img src=a.png role="none">', []),
        ('<img src=a.png aria-hidden="true">', []),
        ("<div hidden><img src=a.png></div>", []),
        ("<template><img src=a.png></template>", []),
        ("<noscript><img src=a.png></noscript>", []),
        ("<div data-alttext-ignore><img src=a.png></div>", []),
        # input-image-alt: alt="" fails here.
        ("<input type=image src=go.png>", ["input-image-alt"]),
        ('<input type=image src=go.png alt="">', ["input-image-alt"]),
        ('<input type=image src=go.png alt="Search">', []),
        ('<input type=image src=go.png title="Search">', []),
        ("<input type=text>", []),
        # area-alt
        ("<map><area href=/x></map>", ["area-alt"]),
        ('<map><area href=/x alt=""></map>', ["area-alt"]),
        ('<map><area href=/x alt="Europe"></map>', []),
        ("<map><area></map>", []),
        # role-img-alt
        ("<div role=img></div>", ["role-img-alt"]),
        ('<div role=img aria-label="Map of Europe"></div>', []),
        ('<span role="img" title="Stars"></span>', []),
        # svg-img-alt
        ("<svg role=img><circle/></svg>", ["svg-img-alt"]),
        ("<svg role=img><title>Logo</title></svg>", []),
        ("<svg role=img><title> </title></svg>", ["svg-img-alt"]),
        ('<svg role=img aria-label="Logo"></svg>', []),
        ("<svg><circle/></svg>", []),
        # object-alt
        ("<object data=o.svg></object>", ["object-alt"]),
        ('<object data=o.svg title="Diagram"></object>', []),
        ('<object data=o.svg role="presentation"></object>', []),
        # image-redundant-alt
        ('<a href=/>Home <img src=h.png alt="Home"></a>', ["image-redundant-alt"]),
        ('<p>Sales up <img src=h.png alt="sales  UP"></p>', ["image-redundant-alt"]),
        ('<a href=/>Home <img src=h.png alt="House icon"></a>', []),
        # link-name / button-name (image-only controls)
        ('<a href=/><img src=h.png alt=""></a>', ["link-name"]),
        ('<a href=/ aria-label="Home"><img src=h.png alt=""></a>', []),
        ('<a href=/><img src=h.png alt="Home"></a>', []),
        ('<a href=/><img src=a alt=""><img src=b alt="Home"></a>', []),
        ('<button><img src=h.png alt=""></button>', ["button-name"]),
        ('<button>Save <img src=h.png alt=""></button>', []),
        # a hidden icon neither names its control nor is audited; a visible image beside it is
        ('<a href=/><svg aria-hidden="true"></svg><img src=h.png alt=""></a>', ["link-name"]),
        ('<a href=/><svg aria-hidden="true"></svg><img src=h.png alt="Home"></a>', []),
        ('<button><img src=h.png hidden><img src=s.png alt=""></button>', ["button-name"]),
    ],
)
def test_axe_rules(html: str, expected: list[str]) -> None:
    assert sorted(rules_for(html)) == sorted(expected)


@pytest.mark.parametrize(
    ("alt", "src", "flagged"),
    [
        ("IMG_1234", "x.jpg", True),
        ("DSC_0001", "x.jpg", True),
        ("PXL_20240101_123456789", "x.jpg", True),
        ("Screen Shot 2022-06-26 at 7.41.30 PM", "x.png", True),
        ("Screenshot 2024-01-02 at 10.00.00", "x.png", True),
        ("CleanShot 2023-05-01 at 12.00.00@2x", "x.png", True),
        ("team-photo.jpg", "other.png", True),
        ("Team photo", "team-photo.jpg", False),
        ("team-photo.JPG", "/img/team-photo.jpg?v=2", True),
        ("3f2c1a9e-1b2c-4d5e-8f90-123456789abc", "x.png", True),
        ("9f86d081884c7d659a2feaa0c55ad015", "x.png", True),
        ("Prev", "prev.png", False),
        ("Screenshot of the settings dialog", "x.png", False),
        ("Screenshot", "x.png", False),
    ],
)
def test_alt_filename(alt: str, src: str, flagged: bool) -> None:
    assert is_filename_alt(alt, src) is flagged


@pytest.mark.parametrize(
    ("alt", "flagged"),
    [
        ("image", True),
        ("Logo", True),
        ("  photo. ", True),
        ("*", True),
        ("-", True),
        ("untitled", True),
        ("Company logo", False),
        ("Sales chart for 2024", False),
    ],
)
def test_alt_placeholder(alt: str, flagged: bool) -> None:
    assert is_placeholder_alt(alt) is flagged


def test_extra_rules_on_markup() -> None:
    assert rules_for('<img src=a.png alt="image">') == ["alt-placeholder"]
    assert rules_for('<img src=IMG_1.JPG alt="IMG_1.JPG">') == ["alt-filename"]
    assert rules_for('<img src=a alt="Photo of a cat on a mat">') == ["alt-redundant-prefix"]
    assert rules_for('<img src=a alt="An image of a cat">') == ["alt-redundant-prefix"]
    assert rules_for(f'<img src=a alt="{"word " * 30}">') == ["alt-too-long"]
    assert rules_for(f'<img src=a alt="{"x" * 125}">') == []


def test_decorative_review_and_spacers() -> None:
    assert rules_for('<img src=a.png alt="">') == ["alt-decorative-review"]
    assert rules_for('<img src=a.gif alt="" width=1 height="1">') == []
    assert rules_for('<img src=a.gif alt="" width=1 height=300>') == ["alt-decorative-review"]
    assert rules_for('<img src=a.png alt="" role="presentation">') == []
    assert rules_for('<a href=/>Docs <img src=a.png alt=""></a>') == []
    # The intrinsic size decides when the probe knows it: 1 px high is a spacer.
    assert rules_for('<img src=a.png alt="">', probe=lambda _i: (640, 1)) == []
    assert rules_for('<img src=a.png alt="">', probe=lambda _i: (640, 480)) == [
        "alt-decorative-review"
    ]


def test_link_name_points_at_the_link() -> None:
    html = '<p>x</p>\n<a class=x\n href="/">\n  <img src=h.png alt=""></a>'
    images = scan_text(html, Path("p.html"), "p.html")
    (finding,) = audit_page(images)
    assert (finding.rule, finding.line, finding.column) == ("link-name", 2, 1)
    assert finding.snippet == '<a class=x\n href="/">' and finding.element == "a"


def test_rules_can_be_disabled_and_relevelled() -> None:
    settings = RuleSettings(
        severities={"image-alt": None, "alt-redundant-prefix": Severity.ERROR}, max_length=20
    )
    images = scan_text(
        '<img src=a><img src=b alt="Photo of a very long thing here">', Path("p"), "p"
    )
    found = {(f.rule, f.severity) for f in audit_page(images, settings)}
    assert found == {
        ("alt-redundant-prefix", Severity.ERROR),
        ("alt-too-long", Severity.WARNING),
    }


def test_every_rule_has_documentation() -> None:
    for rule in RULES.values():
        assert rule.summary and len(rule.help) > 30 and rule.help_uri.startswith("https://")


@pytest.mark.parametrize(
    ("caption", "alt"),
    [
        ("a red bicycle leaning on a wall", "A red bicycle leaning on a wall"),
        ("This image shows a red bicycle.", "A red bicycle."),
        ("Image of a dog", "A dog"),
        ("  <b>Two</b>\n people   talking ", "Two people talking"),
        ('"A quoted caption"', "A quoted caption"),
        ("Caption: A photo of a cat", "A cat"),
        ("**Bold** text &amp; more", "Bold text & more"),
        ("bell\x07ringing,\u200bzero width", "Bell ringing, zero width"),
        ("Ox", "Ox"),
        # A person's text embedded in the image keeps what only looks like markdown...
        (
            "Chart: under 5 °C < 10 °C in C# and my_var_name",
            "Chart: under 5 °C < 10 °C in C# and my_var_name",
        ),
        ('A dog & cat "hi"', 'A dog & cat "hi"'),  # its own quotes
        # ... while markup, even entity-encoded, and emphasis marks go.
        ("&lt;script&gt;alert(1)&lt;/script&gt; text", "Alert(1) text"),
        ("`code` and *emphasis*", "Code and emphasis"),
        ("# Heading text", "Heading text"),
        # ... but not what describes code: dunders, lone stars, generics, a tag named.
        ("A file named __init__.py in a tree", "A file named __init__.py in a tree"),
        ("*args and **kwargs", "*args and **kwargs"),
        ("A snippet declaring List<String> names", "A snippet declaring List<String> names"),
        ("A tag <img> in an HTML tutorial", "A tag <img> in an HTML tutorial"),
    ],
)
def test_polish(caption: str, alt: str) -> None:
    assert polish(caption) == alt


def test_polish_cuts_at_word_boundary_or_first_sentence() -> None:
    long = "A mountain lake at sunrise with mist over the water and pine trees " * 3
    out = polish(long, 60)
    assert len(out) <= 60 and long.startswith(out) and not out.endswith(" ")
    assert long[len(out)] == " "
    two = "A mountain lake at sunrise. Mist rises over the water between dark pine trees."
    assert polish(two, 40) == "A mountain lake at sunrise."


@pytest.mark.parametrize(
    "caption", ["", "   ", "<img src=x>", "...", "X.", "\x00a\x01", "image", "IMG_1234.JPG"]
)
def test_polish_rejects_unusable_captions(caption: str) -> None:
    with pytest.raises(NoCaption):
        polish(caption)
