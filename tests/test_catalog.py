"""The catalog file: shared by runs and people (save merges), its errors, merge and prune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alttext.cli import main
from alttext.errors import ConfigError
from alttext.store.catalog import Catalog

H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64


def entry(
    alt: str, *, reviewed: bool = False, examples: tuple[str, ...] = ("p.html x.png",)
) -> dict[str, object]:
    return {"alt": alt, "source": "backend:x", "reviewed": reviewed, "examples": list(examples)}


def write_catalog(path: Path, entries: dict[str, dict[str, object]]) -> Path:
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return path


def on_disk(path: Path) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# --- reading: duplicates, encodings, messages -------------------------------------------


def test_duplicate_keys_name_the_key_and_both_values(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(
        "{\n"
        f'  "{H1}": {{"alt": "Ours: a red door", "reviewed": true}},\n'
        f'  "{H1}": {{"alt": "Theirs: a door"}}\n'
        "}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path)
    message = str(caught.value)
    assert H1 in message and "appears twice" in message
    assert '"Ours: a red door" (reviewed' in message and '"Theirs: a door" (not reviewed' in message


def test_an_uppercase_key_is_accepted_and_a_clash_after_lowercasing_is_a_duplicate(
    tmp_path: Path,
) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1.upper(): entry("Cat")})
    assert Catalog.load(path).get(H1) is not None
    write_catalog(path, {H1.upper(): entry("Cat"), H1: entry("Kitten")})
    with pytest.raises(ConfigError, match=r"appears twice \(written 'A+' and 'a+'\)"):
        Catalog.load(path)


def test_a_catalog_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({H1: entry("Cat")}).encode())
    catalog = Catalog.load(path)
    assert catalog.get(H1) is not None
    catalog.add(H2, "Dog", "backend:x", "d")
    catalog.save()
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")  # written canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"alt": "x", "reviewed": "yes"}, "^[^']*'reviewed' must be true or false, not \"yes\"$"),
        ({"alt": "x", "source": 3}, "'source' must be a string, not 3$"),
        ({"alt": "x", "examples": ["a", 1]}, "'examples' must be a list of strings; 1 is"),
        ({"alt": "x", "Reviewed": True}, "'Reviewed'; allowed: alt, source, reviewed, examples$"),
        ({"source": "human"}, "'alt' is missing"),
        ("Cat", "must be an object with an 'alt', not \"Cat\""),
    ],
)
def test_each_message_names_the_field_that_is_wrong(
    tmp_path: Path, value: object, message: str
) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(json.dumps({H1: value}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path)
    assert caught.match(message)
    assert "'source'" not in str(caught.value) or "source" in json.dumps(value)


def test_a_duplicate_field_in_an_entry_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(f'{{"{H1}": {{"alt": "a", "alt": "b"}}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="field 'alt' appears twice"):
        Catalog.load(path)


def test_left_over_merge_markers_are_named(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(
        f'{{\n<<<<<<< HEAD\n  "{H1}": {{"alt": "a"}}\n=======\n  "{H1}": {{"alt": "b"}}\n'
        ">>>>>>> other\n}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"at line 2, column 1 .*merge conflict markers"):
        Catalog.load(path)


def test_the_cli_reports_a_bad_catalog_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(f'{{"{H1}": {{"alt": "a"}}, "{H1}": {{"alt": "b"}}}}', encoding="utf-8")
    result = cli("catalog", "show", str(path))
    assert result.exit_code == 2
    assert "appears twice" in result.stderr and "Traceback" not in result.output
