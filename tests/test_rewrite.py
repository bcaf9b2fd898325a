"""The rewriter: golden byte-exact rewrites, safety refusals, atomic writes, real patches."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alttext.errors import RewriteError
from alttext.rewrite import (
    PATCH_ENCODING,
    PATCH_ERRORS,
    Edit,
    apply_edits,
    atomic_write,
    format_alt_attribute,
    normalise_alt,
    rewrite_file,
    unified_diff,
    unified_diff_bytes,
)
from alttext.scan.encoding import DecodedHTML, decode_html
from alttext.scan.model import AltState, ImageElement
from alttext.scan.scanner import scan_text

GOLDEN = Path(__file__).parent / "golden" / "rewrite"
CASES = sorted(p.name.removesuffix(".in.html") for p in GOLDEN.glob("*.in.html"))


def _scan(data: bytes, name: str = "page.html") -> tuple[DecodedHTML, tuple[ImageElement, ...]]:
    decoded = decode_html(data)
    return decoded, scan_text(decoded.text, Path(name), name)


def _golden(name: str) -> tuple[bytes, bytes, list[str | None]]:
    sidecar = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return (
        (GOLDEN / f"{name}.in.html").read_bytes(),
        (GOLDEN / f"{name}.out.html").read_bytes(),
        sidecar["alts"],
    )


def _rewrite(data: bytes, alts: list[str | None]) -> bytes:
    """Scan ``data`` and give the n-th image-like element ``alts[n]`` (``None``: leave it)."""
    decoded, images = _scan(data)
    assert len(images) == len(alts), [image.snippet for image in images]
    edits = [
        Edit(image.start, image.end, image.snippet, alt)
        for image, alt in zip(images, alts, strict=True)
        if alt is not None
    ]
    return apply_edits(data, decoded, edits)


# --- goldens -------------------------------------------------------------------------


def test_golden_set_is_complete() -> None:
    assert len(CASES) >= 12
    for name in CASES:
        assert (GOLDEN / f"{name}.out.html").is_file(), name
        assert (GOLDEN / f"{name}.json").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_golden_rewrite_is_byte_exact(name: str) -> None:
    before, expected, alts = _golden(name)
    assert _rewrite(before, alts) == expected


@pytest.mark.parametrize("name", CASES)
def test_golden_second_run_changes_nothing(name: str) -> None:
    _, expected, alts = _golden(name)
    _, images = _scan(expected)
    assert len(images) == len(alts)
    for image, alt in zip(images, alts, strict=True):
        if alt is not None:
            # The fixer's default pass finds nothing left to fill...
            assert image.alt_state is not AltState.MISSING
            assert image.alt == normalise_alt(alt)
    # ...and even forcing the same alts again (--replace-bad) leaves every byte alone.
    assert _rewrite(expected, alts) == expected


# --- format_alt_attribute ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "alt", "expected"),
    [
        ("<img>", "A", '<img alt="A">'),
        ('<img src="a.png">', "", '<img alt="" src="a.png">'),
        ("<img src=x/>", "A", '<img alt="A" src=x/>'),
        ("<img/>", "A", '<img alt="A"/>'),
        ("<img\nsrc=a>", "A", '<img alt="A"\nsrc=a>'),
        ("<img src='a'>", "it's", "<img alt='it&#39;s' src='a'>"),
        ("<IMG SRC=A>", "x", '<IMG ALT="x" SRC=A>'),
        ('<img title="alt=x" data-alt=y>', "A", '<img alt="A" title="alt=x" data-alt=y>'),
        # An existing alt: only its value changes, and only the first alt counts (as in HTML).
        ('<img alt="old" src=x>', 'new "one"', '<img alt="new &quot;one&quot;" src=x>'),
        ("<img alt='old' alt=\"2\">", "n", "<img alt='n' alt=\"2\">"),
        ("<img ALT=old>", "new", "<img ALT=new>"),
        ("<img alt=old>", "two words", '<img alt="two words">'),
        ("<img alt=old/>", "a&b", "<img alt=a&amp;b>"),
        ("<img src='a' alt=old>", "x y", "<img src='a' alt='x y'>"),
        ("<img alt src=x>", "A", '<img alt="A" src=x>'),
        ("<img alt>", "", "<img alt>"),
        ('<img alt="a &amp; b">', "a & b", '<img alt="a &amp; b">'),
        ('<img alt="a &#38; b">', "a & b", '<img alt="a &#38; b">'),
        ('<img alt="x">', "\n x \n", '<img alt="x">'),
    ],
)
def test_format_alt_attribute(tag: str, alt: str, expected: str) -> None:
    assert format_alt_attribute(tag, alt) == expected


@pytest.mark.parametrize("bad", ["", "img", "<img", "<img>x", "</img>", "<img><img>", "<1>"])
def test_format_alt_attribute_refuses_what_is_not_one_start_tag(bad: str) -> None:
    with pytest.raises(RewriteError):
        format_alt_attribute(bad, "A")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  two\n\tlines \r\n", "two lines"),
        ("a\u2028b\x85c", "a b c"),
        ("bell\x07 and nul\x00", "bell and nul"),
        ("keep\xa0nbsp", "keep\xa0nbsp"),
        ("non\ufffecharacter\U0010ffff", "noncharacter"),
        ("", ""),
    ],
)
def test_normalise_alt(raw: str, clean: str) -> None:
    assert normalise_alt(raw) == clean


@settings(deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
@example("\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffff\U0010fffd")
def test_normalise_alt_drops_every_noncharacter(raw: str) -> None:
    # Every code point whose low 16 bits are FFFE/FFFF, and U+FDD0-U+FDEF, as the
    # standard lists them; nothing else changes but control characters and whitespace.
    out = normalise_alt(raw)
    assert not any((ord(ch) & 0xFFFE) == 0xFFFE or 0xFDD0 <= ord(ch) <= 0xFDEF for ch in out)
    kept = [ch for ch in raw if (ord(ch) & 0xFFFE) != 0xFFFE and not 0xFDD0 <= ord(ch) <= 0xFDEF]
    assert set(out) <= set(kept) | {" "}


# --- apply_edits refusals and ordering ------------------------------------------------


def test_stale_snippet_is_refused() -> None:
    data = b'<p>x</p><img src="a.png">'
    decoded, (image,) = _scan(data)
    stale = Edit(image.start, image.end, '<img src="b.png">', "A")
    with pytest.raises(RewriteError, match="changed since it was scanned"):
        apply_edits(data, decoded, [stale])


def test_file_changed_on_disk_since_decoding_is_refused() -> None:
    scanned = b'<p>hi</p><img src="a.png">'
    decoded, (image,) = _scan(scanned)
    now = b'<p>hello</p><img src="a.png">'
    edit = Edit(image.start, image.end, image.snippet, "A")
    with pytest.raises(RewriteError):
        apply_edits(now, decoded, [edit])


def test_encoding_that_does_not_round_trip_is_refused() -> None:
    # ISO-2022-JP decodes a redundant "ESC ( B" (switch to ASCII, already in ASCII) to
    # nothing and never writes it back: the bytes cannot be reproduced.
    data = b'<meta charset="iso-2022-jp"><p>\x1b(Ba</p><img src="a.png">'
    decoded, images = _scan(data)
    assert decoded.encoding == "web_iso2022_jp"
    image = images[-1]
    with pytest.raises(RewriteError, match="round-trip"):
        apply_edits(data, decoded, [Edit(image.start, image.end, image.snippet, "A")])


def test_overlapping_and_out_of_range_edits_are_refused() -> None:
    data = b"<img src=a><img src=b>"
    decoded, (first, _second) = _scan(data)
    edit = Edit(first.start, first.end, first.snippet, "A")
    with pytest.raises(RewriteError, match="overlap"):
        apply_edits(data, decoded, [edit, edit])
    with pytest.raises(RewriteError, match="outside"):
        apply_edits(data, decoded, [Edit(20, 40, "<img src=b>", "A")])


def test_bom_mismatch_is_refused() -> None:
    decoded, (image,) = _scan(b"\xef\xbb\xbf<img>")
    with pytest.raises(RewriteError, match="byte-order mark"):
        apply_edits(b"<img>", decoded, [Edit(image.start, image.end, image.snippet, "A")])


def test_edits_in_any_order_give_the_same_bytes() -> None:
    data = b"<img src=a>\n<img src=b>\n<img src=c>\n"
    decoded, images = _scan(data)
    edits = [Edit(i.start, i.end, i.snippet, i.attrs["src"].upper()) for i in images]
    expected = b'<img alt="A" src=a>\n<img alt="B" src=b>\n<img alt="C" src=c>\n'
    assert apply_edits(data, decoded, edits) == expected
    assert apply_edits(data, decoded, edits[::-1]) == expected
    assert apply_edits(data, decoded, []) == data


def test_characters_outside_the_page_encoding_become_references() -> None:
    data = '<meta charset="windows-1252"><p>\u20ac</p><img>'.encode("cp1252")
    decoded, images = _scan(data)
    image = images[-1]
    out = apply_edits(data, decoded, [Edit(image.start, image.end, image.snippet, "\u20ac \u4e2d")])
    # cp1252 holds the euro sign (byte 0x80); the CJK character becomes a reference.
    assert out == data.replace(b"<img>", b'<img alt="\x80 &#20013;">')
    _, rescanned = _scan(out)
    assert rescanned[-1].alt == "\u20ac \u4e2d"


# --- atomic_write and rewrite_file -----------------------------------------------------


def test_atomic_write_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"old")
    os.chmod(page, 0o640)
    atomic_write(page, b"new bytes")
    assert page.read_bytes() == b"new bytes"
    assert stat.S_IMODE(page.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["page.html"]


def test_directory_syncs_can_be_collected_and_done_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext.durable as rewrite

    synced: list[Path] = []
    real_fsync_dir = rewrite._fsync_dir
    monkeypatch.setattr(rewrite, "_fsync_dir", lambda d: (synced.append(d), real_fsync_dir(d)))
    monkeypatch.setattr(rewrite, "_syncfs", lambda: None)  # a platform without syncfs
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dirs: set[Path] = set()
    for name in ("a/1.html", "a/2.html", "b/3.html"):
        atomic_write(tmp_path / name, b"x", dirs_to_sync=dirs)
    assert synced == []  # collected, not synced per file
    assert dirs == {tmp_path / "a", tmp_path / "b"}
    rewrite.sync_directories(dirs)
    assert synced == [tmp_path / "a", tmp_path / "b"]
    atomic_write(tmp_path / "a" / "4.html", b"y")  # alone: synced at once
    assert synced[-1] == tmp_path / "a"


def _staged_site(tmp_path: Path, pages: int) -> list[Path]:
    paths = []
    for number in range(pages):
        page = tmp_path / f"post-{number}" / "index.html"
        page.parent.mkdir()
        page.write_bytes(b"old")
        page.chmod(0o640)
        paths.append(page)
    return paths


@pytest.mark.parametrize("with_syncfs", [True, False])
def test_staged_files_are_made_durable_together_then_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_syncfs: bool
) -> None:
    import alttext.durable as durable

    calls: list[tuple[str, object]] = []
    real_syncfs = durable._syncfs()
    if with_syncfs and real_syncfs is None:
        pytest.skip("no syncfs on this platform")

    def recording_syncfs(fd: int) -> int:
        calls.append(("syncfs", os.fstat(fd).st_dev))
        if not dirs:  # the commit's barrier: nothing may be in place before it
            assert all(p.read_bytes() == b"old" for p in pages)
        return real_syncfs(fd)  # type: ignore[misc]

    real_fsync = os.fsync
    monkeypatch.setattr(durable, "_syncfs", lambda: recording_syncfs if with_syncfs else None)
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", fd)), real_fsync(fd))[1])
    pages = _staged_site(tmp_path, 20)
    staged = [durable.stage(page, b"new") for page in pages]
    assert all(page.read_bytes() == b"old" for page in pages)  # staged: nothing replaced
    dirs: set[Path] = set()
    assert durable.commit(staged, dirs) == []
    if with_syncfs:
        assert calls == [("syncfs", tmp_path.stat().st_dev)]  # one barrier for 20 files
    else:
        assert [kind for kind, _ in calls] == ["fsync"] * 20
    assert all(page.read_bytes() == b"new" for page in pages)
    assert all(stat.S_IMODE(page.stat().st_mode) == 0o640 for page in pages)
    assert dirs == {page.parent for page in pages}
    assert not list(tmp_path.rglob("*.alttext-tmp"))
    calls.clear()
    durable.sync_directories(dirs)
    expected = 1 if with_syncfs else 0  # else one fsync per directory (not recorded here)
    assert len([c for c in calls if c[0] == "syncfs"]) == expected


def test_discarded_stages_leave_every_page_untouched(tmp_path: Path) -> None:
    import alttext.durable as durable

    pages = _staged_site(tmp_path, 3)
    staged = [durable.stage(page, b"new") for page in pages]
    durable.discard(staged)  # e.g. Ctrl-C before the commit
    assert all(page.read_bytes() == b"old" for page in pages)
    assert not list(tmp_path.rglob("*.alttext-tmp"))


def test_a_failed_barrier_renames_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import alttext.durable as durable

    def failing(paths: list[str]) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable, "_make_durable", failing)
    pages = _staged_site(tmp_path, 2)
    failed = durable.commit([durable.stage(page, b"new") for page in pages], set())
    assert [reason for _, reason in failed] == [
        f"cannot write {page}: Input/output error" for page in pages
    ]
    assert all(page.read_bytes() == b"old" for page in pages)
    assert not list(tmp_path.rglob("*.alttext-tmp"))


def test_staged_pages_keep_their_mode_and_links_and_one_barrier_covers_each_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext.durable as durable

    barriers: list[tuple[list[str], bool]] = []
    real = durable._sync_filesystems

    def recording(paths: Any, *, files: bool) -> bool:
        paths = sorted(map(str, paths))
        barriers.append((paths, files))
        return real(paths, files=files)

    monkeypatch.setattr(durable, "_sync_filesystems", recording)
    (tmp_path / "a").mkdir()
    odd = tmp_path / "a" / "odd.html"
    odd.write_bytes(b"old")
    os.chmod(odd, 0o604)  # not what a umask of 022 would leave
    real_page = tmp_path / "a" / "real.html"
    real_page.write_bytes(b"old")
    link = tmp_path / "link.html"
    os.symlink(real_page, link)
    dirs: set[Path] = set()
    assert durable.commit([durable.stage(odd, b"new"), durable.stage(link, b"linked")], dirs) == []
    durable.sync_directories(dirs)
    assert odd.read_bytes() == b"new" and stat.S_IMODE(odd.stat().st_mode) == 0o604
    assert link.is_symlink() and real_page.read_bytes() == b"linked"
    assert dirs == {tmp_path / "a"}
    if durable._syncfs() is not None:
        # The staged files by their folder; the folders renamed into as they are.
        [(files_seen, as_files), (folders, as_folders)] = barriers
        assert as_files and len(files_seen) == 2 and all("/a/." in f for f in files_seen)
        assert not as_folders and folders == [str(tmp_path / "a")]
    assert not list(tmp_path.rglob("*.alttext-tmp"))


def test_atomic_write_creates_a_missing_file(tmp_path: Path) -> None:
    page = tmp_path / "new.html"
    atomic_write(page, b"x")
    assert page.read_bytes() == b"x"
    assert stat.S_IMODE(page.stat().st_mode) == 0o644


def test_atomic_write_follows_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.html"
    real.write_bytes(b"old")
    link = tmp_path / "link.html"
    link.symlink_to(real)
    atomic_write(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_atomic_write_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(RewriteError, match="cannot write"):
        atomic_write(tmp_path / "missing" / "page.html", b"x")
    assert os.listdir(tmp_path) == []


def test_atomic_write_that_cannot_replace_removes_its_temp_file(tmp_path: Path) -> None:
    # The temp file is written in full, then the rename fails (a directory is in the way).
    target = tmp_path / "page.html"
    target.mkdir()
    (target / "keep").write_bytes(b"k")
    with pytest.raises(RewriteError):
        atomic_write(target, b"data")
    assert os.listdir(tmp_path) == ["page.html"]
    assert (target / "keep").read_bytes() == b"k"


def test_atomic_write_failing_mid_write_keeps_the_original(tmp_path: Path) -> None:
    # A real short write: a file-size limit (EFBIG) in a child process, so the limit
    # cannot affect this one.
    page = tmp_path / "page.html"
    page.write_bytes(b"original")
    script = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        from alttext.errors import RewriteError
        from alttext.rewrite import atomic_write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        try:
            atomic_write(Path(sys.argv[1]), b"x" * 100_000)
        except RewriteError as exc:
            print("refused:", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(page)], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("refused: cannot write"), result.stdout + result.stderr
    assert page.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["page.html"]


def test_rewrite_file_writes_only_when_something_changes(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>\r\n<img src=a.png>\r\n")
    _, (image,) = _scan(page.read_bytes())
    edit = Edit(image.start, image.end, image.snippet, "A")
    before, after = rewrite_file(page, [edit], write=False)
    assert page.read_bytes() == before == b"<p>\r\n<img src=a.png>\r\n"
    assert after == b'<p>\r\n<img alt="A" src=a.png>\r\n'
    rewrite_file(page, [edit])
    assert page.read_bytes() == after
    inode = page.stat().st_ino
    _, (image,) = _scan(after)
    again = rewrite_file(page, [Edit(image.start, image.end, image.snippet, "A")])
    assert again == (after, after)
    assert page.stat().st_ino == inode  # not replaced when nothing changed


def test_rewrite_file_translates_read_and_decode_failures(tmp_path: Path) -> None:
    with pytest.raises(RewriteError, match="cannot read"):
        rewrite_file(tmp_path / "absent.html", [])
    bad = tmp_path / "bad.html"
    bad.write_bytes(b"<p>\xff</p>")
    with pytest.raises(RewriteError, match="cannot decode"):
        rewrite_file(bad, [])


# --- unified diffs applied with real tools ----------------------------------------------


def test_unified_diff_format() -> None:
    before = b"".join(b"line %d\n" % n for n in range(1, 11)) + b"<img>"
    after = before.replace(b"<img>", b'<img alt="A">')
    assert unified_diff("docs/p.html", before, after, "utf-8") == (
        "--- a/docs/p.html\n"
        "+++ b/docs/p.html\n"
        "@@ -8,4 +8,4 @@\n"
        " line 8\n"
        " line 9\n"
        " line 10\n"
        "-<img>\n"
        "\\ No newline at end of file\n"
        '+<img alt="A">\n'
        "\\ No newline at end of file\n"
    )
    assert unified_diff("p.html", before, before, "utf-8") == ""


def test_unified_diff_str_round_trips_to_the_patch_bytes() -> None:
    before, after, _ = _golden("latin1-declared")
    text = unified_diff("p.html", before, after, "iso8859-1")
    assert text.encode(PATCH_ENCODING, PATCH_ERRORS) == unified_diff_bytes(
        "p.html", before, after, "iso8859-1"
    )
    assert b"caf\xe9" in text.encode(PATCH_ENCODING, PATCH_ERRORS)


def test_unified_diff_refuses_what_it_cannot_express() -> None:
    with pytest.raises(RewriteError, match="utf-16"):
        unified_diff("p.html", b"a\x00", b"b\x00", "utf-16-le")
    for bad in ("/etc/p.html", "../p.html", "a/../../p.html", ""):
        with pytest.raises(RewriteError, match="relative"):
            unified_diff(bad, b"a", b"b", "utf-8")


def _apply_tool(tool: str, root: Path, patch: bytes) -> None:
    patch_file = root.parent / f"{root.name}.diff"
    patch_file.write_bytes(patch)
    if tool == "git":
        # Outside any repository git apply patches the working directory like patch(1);
        # the ceiling stops it from finding a repository above tmp_path.
        env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.parent)}
        command = ["git", "apply", "-p1", str(patch_file)]
    else:
        env = dict(os.environ)
        command = ["patch", "-p1", "--batch", "--forward", "-i", str(patch_file)]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


TOOLS = [
    pytest.param(
        tool,
        marks=pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed"),
    )
    for tool in ("git", "patch")
]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name", CASES)
def test_golden_diff_applies_with_real_tools(tool: str, name: str, tmp_path: Path) -> None:
    before, after, _ = _golden(name)
    root = tmp_path / "site"
    (root / "sub dir").mkdir(parents=True)
    rel = f"sub dir/{name}.html"
    (root / rel).write_bytes(before)
    decoded = decode_html(before)
    _apply_tool(tool, root, unified_diff_bytes(rel, before, after, decoded.encoding))
    assert (root / rel).read_bytes() == after


@pytest.mark.parametrize("tool", TOOLS)
def test_one_patch_for_many_files(tool: str, tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    pages = {
        "crlf.html": (b"a\r\n<img>\r\nb\r\n", b'a\r\n<img alt="x">\r\nb\r\n'),
        "caf\u00e9.html": (b"<img>", b'<img alt="y">'),
        "lone-cr.html": (b"a\rb\n<img>\rc\n", b'a\rb\n<img alt="z">\rc\n'),
        "shrinks.html": (b'1\n<img alt="IMG\n1234.jpg">\n2\n', b'1\n<img alt="Boat">\n2\n'),
    }
    patch = b""
    for rel, (before, after) in pages.items():
        (root / rel).write_bytes(before)
        patch += unified_diff_bytes(rel, before, after, "utf-8")
    _apply_tool(tool, root, patch)
    for rel, (_, after) in pages.items():
        assert (root / rel).read_bytes() == after, rel


def test_large_page_diff_is_one_small_hunk() -> None:
    before = b"".join(b"<p>paragraph %d</p>\n" % n for n in range(20_000))
    before = before.replace(b"<p>paragraph 12345</p>", b"<img src=a.png>")
    after = before.replace(b"<img src=a.png>", b'<img alt="A" src=a.png>')
    diff = unified_diff("big.html", before, after, "utf-8")
    assert diff.count("\n@@ ") == 1
    assert len(diff.splitlines()) == 2 + 1 + 3 + 2 + 3


def test_a_temporary_name_that_exists_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itertools

    import alttext.durable as durable

    page = tmp_path / "p.html"
    page.write_bytes(b"old")
    monkeypatch.setattr(durable, "_COUNTER", itertools.count(7))
    squatter = tmp_path / f".p.html.{os.getpid()}-7.alttext-tmp"
    squatter.symlink_to(tmp_path / "elsewhere")  # e.g. planted by another user
    staged = durable.stage(page, b"new")
    assert staged.tmp != str(squatter) and not (tmp_path / "elsewhere").exists()
    assert durable.commit([staged], set()) == []
    assert page.read_bytes() == b"new" and squatter.is_symlink()


def test_an_undeclared_ascii_page_gets_an_alt_that_reads_the_same_in_any_guess() -> None:
    # No BOM, no declaration, ASCII only: browsers may read it as windows-1252 or UTF-8.
    data = b'<p>Hello</p><img src="a.png">'
    decoded, (image,) = _scan(data)
    out = apply_edits(data, decoded, [Edit(image.start, image.end, image.snippet, "Café €")])
    assert out == b'<p>Hello</p><img alt="Caf&#233; &#8364;" src="a.png">'
    # A page that already holds UTF-8 text is UTF-8: the alt is written as such.
    data = '<p>Grüße</p><img src="a.png">'.encode()
    decoded, (image,) = _scan(data)
    out = apply_edits(data, decoded, [Edit(image.start, image.end, image.snippet, "Café")])
    assert out == '<p>Grüße</p><img alt="Café" src="a.png">'.encode()
