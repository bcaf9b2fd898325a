"""Replacing pages keeps what they were, and leaves alone what is not ours.

Real files, real processes (a zombie is a real child not yet reaped; another user is a
real process running as ``nobody``), no mocks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alttext.durable import (
    Retired,
    atomic_write,
    commit,
    identity,
    stage,
    sweep_directory,
    sweep_leftovers,
)
from alttext.errors import RewriteError

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534
root_only = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="changes files' owners: root only"
)

#: Stages new content for the page named on the command line, prints the temporary
#: file's name, then exits (or, with ``--wait``, waits for its stdin to close).
_STAGE = """
import sys
from pathlib import Path
from alttext.durable import stage
print(stage(Path(sys.argv[2]), b"new").tmp, flush=True)
if sys.argv[1] == "--wait":
    sys.stdin.read()
"""


def _state(pid: int) -> str:
    line = Path(f"/proc/{pid}/stat").read_bytes()
    return line[line.rfind(b")") + 1 :].split()[0].decode()


def _wait_for_zombie(pid: int) -> None:
    give_up = time.monotonic() + 60
    while _state(pid) != "Z":
        assert time.monotonic() < give_up, "the child never ended"
        time.sleep(0.01)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_zombie_runs_leftovers_are_removed_and_a_live_runs_are_reported_kept(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.html").write_bytes(b"old a")
    (tmp_path / "b.html").write_bytes(b"old b")
    # Ended but not reaped (a zombie) until ``wait``: what a killed run's scan workers
    # are for a while, or for ever under a PID 1 that does not reap.
    ended = subprocess.Popen(
        [sys.executable, "-c", _STAGE, "--exit", str(tmp_path / "a.html")],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    live = subprocess.Popen(
        [sys.executable, "-c", _STAGE, "--wait", str(tmp_path / "b.html")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert ended.stdout is not None and live.stdout is not None
        theirs = Path(ended.stdout.readline().decode().strip())
        still_going = Path(live.stdout.readline().decode().strip())
        _wait_for_zombie(ended.pid)
        os.kill(ended.pid, 0)  # signal 0 still finds it

        swept = sweep_directory(tmp_path)

        assert swept.removed == [theirs]
        assert swept.kept == {live.pid: [still_going]}
        assert not theirs.exists() and still_going.is_file()
        assert (tmp_path / "a.html").read_bytes() == b"old a"
    finally:
        ended.communicate()
        live.communicate(b"")
    # Once the live run has ended, its file is a leftover too.
    assert sweep_leftovers(tmp_path) == [still_going]


def test_this_process_own_files_are_neither_removed_nor_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"old")
    mine = stage(page, b"new")
    swept = sweep_directory(tmp_path)
    assert swept.removed == [] and swept.kept == {}
    assert Path(mine.tmp).is_file()


def _owned(path: Path, data: bytes, uid: int, gid: int, mode: int) -> Path:
    path.write_bytes(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


@root_only
@pytest.mark.parametrize("how", ["atomic_write", "stage_and_commit"])
def test_root_keeps_the_pages_owner_group_and_mode(tmp_path: Path, how: str) -> None:
    page = _owned(tmp_path / "page.html", b"old", NOBODY, NOBODY, 0o640)
    # chown clears the setuid and setgid bits: the mode must be set after it.
    special = _owned(tmp_path / "special.html", b"old", NOBODY, NOBODY, 0o6755)
    for path in (page, special):
        if how == "atomic_write":
            atomic_write(path, b"new")
        else:
            assert commit([stage(path, b"new")], set()) == []
    for path, mode in ((page, 0o640), (special, 0o6755)):
        info = os.stat(path)
        assert path.read_bytes() == b"new"
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, NOBODY, mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html", "special.html"]


#: Becomes ``nobody``, a member of group 4242 too (after starting: root's interpreter
#: may be where ``nobody`` cannot run it), then replaces each page named.
_REPLACE_AS_NOBODY = """
import os, sys
from pathlib import Path
from alttext.durable import atomic_write
from alttext.errors import RewriteError
os.setgroups([4242])
os.setgid(65534)
os.setuid(65534)
for name in sys.argv[1:]:
    try:
        atomic_write(Path(name), b"new")
        print("ok")
    except RewriteError as exc:
        print(exc)
"""


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder ``nobody`` may write, outside pytest's (private to root) temporary tree."""
    folder = Path(tempfile.mkdtemp(prefix="alttext-shared-"))
    try:
        os.chmod(folder, 0o755)
        (folder / "site").mkdir()
        os.chown(folder / "site", NOBODY, NOBODY)
        yield folder / "site"
    finally:
        shutil.rmtree(folder)


@root_only
def test_another_user_keeps_the_group_or_the_page_is_refused(shared_folder: Path) -> None:
    # Root's pages, in a folder nobody may write: nobody may replace them, but cannot
    # give them back to root. The group, through which a web server may read the page,
    # is kept when nobody is a member of it, or the page is refused.
    member = _owned(shared_folder / "member.html", b"old", 0, 4242, 0o664)
    other = _owned(shared_folder / "other.html", b"old", 0, 4343, 0o640)
    done = subprocess.run(
        [sys.executable, "-c", _REPLACE_AS_NOBODY, str(member), str(other)],
        capture_output=True,
        cwd=REPO,
        check=True,
    )
    ok, refused = done.stdout.decode().splitlines()
    assert ok == "ok"
    info = os.stat(member)
    assert member.read_bytes() == b"new"
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, 4242, 0o664)
    assert refused == f"cannot write {other}: cannot keep its group (gid 4343): " + os.strerror(
        errno.EPERM
    )
    info = os.stat(other)
    assert other.read_bytes() == b"old"
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 4343, 0o640)
    assert sorted(p.name for p in shared_folder.iterdir()) == ["member.html", "other.html"]


def _touch_later(path: Path) -> None:
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))


def _same_size_new_mtime(path: Path) -> None:
    path.write_bytes(b"OLD")
    _touch_later(path)


def _bigger(path: Path) -> None:
    with path.open("ab") as file:
        file.write(b" <!-- theirs -->")


def _replaced_same_size_and_mtime(path: Path) -> None:
    info = os.stat(path)
    other = path.with_name("other")
    other.write_bytes(b"XYZ")
    os.utime(other, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(other, path)


@pytest.fixture(params=["renames free", "retired frees"])
def retired(request: pytest.FixtureRequest) -> Iterator[Retired | None]:
    """Commit with the old versions freed by each rename, or held and freed by a
    :class:`Retired`: the outcome is the same."""
    if request.param == "renames free":
        yield None
        return
    holder = Retired()
    yield holder
    holder.close()


@pytest.mark.parametrize(
    "change", [_same_size_new_mtime, _bigger, _replaced_same_size_and_mtime, Path.unlink]
)
def test_a_page_changed_after_staging_is_refused_and_keeps_the_change(
    tmp_path: Path, change: object, retired: Retired | None
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"old")
    untouched = tmp_path / "untouched.html"
    untouched.write_bytes(b"old")
    staged = [stage(page, b"new"), stage(untouched, b"new")]
    assert callable(change)
    change(page)
    theirs = page.read_bytes() if page.exists() else None
    dirs: set[Path] = set()

    failed = commit(staged, dirs, retired)

    assert failed == [(staged[0], f"{page} changed during the run; re-run alttext fix")]
    assert (page.read_bytes() if page.exists() else None) == theirs  # not resurrected
    assert untouched.read_bytes() == b"new"
    assert dirs == {tmp_path}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["untouched.html"] + (["page.html"] if theirs is not None else [])
    )


def test_the_stat_of_what_was_read_covers_a_change_before_staging(
    tmp_path: Path, retired: Retired | None
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"old")
    read = identity(os.stat(page))
    _bigger(page)  # after the read, before the stage
    staged = stage(page, b"new", read=read)
    assert commit([staged], set(), retired) == [
        (staged, f"{page} changed during the run; re-run alttext fix")
    ]
    assert page.read_bytes() == b"old <!-- theirs -->"
    # Unchanged since it was read: replaced.
    again = stage(page, b"new", read=identity(os.stat(page)))
    assert commit([again], set(), retired) == []
    assert page.read_bytes() == b"new"


def test_a_page_staged_through_a_symlink_is_checked_at_its_target(
    tmp_path: Path, retired: Retired | None
) -> None:
    real = tmp_path / "real.html"
    real.write_bytes(b"old")
    link = tmp_path / "link.html"
    link.symlink_to(real.name)
    assert commit([stage(link, b"new")], set(), retired) == []
    assert link.is_symlink() and real.read_bytes() == b"new"
    staged = stage(link, b"newer")
    _bigger(real)
    why = commit([staged], set(), retired)[0][1]
    assert why == f"{real} changed during the run; re-run alttext fix"
    assert real.read_bytes() == b"new <!-- theirs -->"


def test_a_new_file_staged_is_refused_if_someone_else_created_it_meanwhile(
    tmp_path: Path, retired: Retired | None
) -> None:
    fresh = tmp_path / "fresh.html"
    staged = stage(fresh, b"ours")
    fresh.write_bytes(b"theirs")
    assert len(commit([staged], set(), retired)) == 1
    assert fresh.read_bytes() == b"theirs"
    created = stage(tmp_path / "created.html", b"ours")
    assert commit([created], set(), retired) == []
    assert (tmp_path / "created.html").read_bytes() == b"ours"
    assert stat.S_IMODE(os.stat(tmp_path / "created.html").st_mode) == 0o644


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_PATH")
def test_a_held_old_version_lives_until_it_is_released_and_closed(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"old")
    retired = Retired()
    held = retired.hold(page)
    assert held is not None
    staged = stage(page, b"new")
    os.replace(staged.tmp, page)
    # Replaced, but the old version is still there, unnamed, until its handle closes.
    assert page.read_bytes() == b"new"
    assert os.fstat(held).st_nlink == 0
    assert os.readlink(f"/proc/self/fd/{held}").endswith("(deleted)")
    retired.release(held)
    retired.close()
    with pytest.raises(OSError) as closed:
        os.fstat(held)
    assert closed.value.errno == errno.EBADF


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd")
def test_a_commit_with_retired_leaves_no_handle_open_once_closed(tmp_path: Path) -> None:
    def open_handles() -> int:
        # Only this test's files: other tests' threads may open or close descriptors
        # meanwhile, and the garbage collector may close some.
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                count += str(tmp_path) in os.readlink(f"/proc/self/fd/{fd}")
        return count

    pages = [tmp_path / f"p{n}.html" for n in range(300)]
    for page in pages:
        page.write_bytes(b"old" * 200)
    assert open_handles() == 0
    retired = Retired(limit=8)  # fewer than the pages: release waits for the closer
    assert commit([stage(page, b"new") for page in pages], set(), retired) == []
    retired.close()
    assert open_handles() == 0
    assert all(page.read_bytes() == b"new" for page in pages)
    retired.close()  # closing twice is harmless


def test_stage_errors_are_rewrite_errors(tmp_path: Path) -> None:
    with pytest.raises(RewriteError, match="cannot write"):
        stage(tmp_path / "missing" / "page.html", b"new")
