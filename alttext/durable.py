"""Replace files atomically, and make the replacements survive a power cut.

A page is always written to a temporary file in its own directory and renamed over the
original, so a reader (or a run that is killed) sees the old page or the new one, never
half of each. For the new page to survive a power cut too, its bytes must be on disk
before the rename, and the rename itself must reach the disk (the directory is synced).

One file: :func:`atomic_write` (an fsync of the file, the rename, an fsync of the
directory). Many files: :func:`stage` each, then :func:`commit` them together — one
durability barrier for the whole batch before the renames (on Linux a ``syncfs`` per
filesystem instead of an fsync per file), then one for the directories at the end
(:func:`sync_directories`). Either way no page is renamed before its bytes are durable.

A run killed between writing a temporary file and renaming it (SIGKILL, a power cut)
leaves the temporary file behind, a hidden file that would otherwise be published with
the site. Temporary names carry the writing process's id, so a later run can tell such
leftovers from another live run's files: :func:`sweep_leftovers` removes them.

A replacement keeps what the page was besides its bytes: its permission bits, and its
owner and group where the platform lets us (see :func:`_keep_owner`).

A page changed by someone else between the read and the rename (an editor, a build
still writing) is not overwritten: :func:`stage` records the identity of the version
the new content was worked out from (its caller's ``fstat`` when it read the page), and
:func:`commit` compares the page with it again just before the rename, and refuses the
page if it differs. That narrows the window to the microseconds between that ``stat``
and the rename; it is not a lock (no portable one exists that other writers would honour).

Where a filesystem frees a file's blocks dearly (ext4 without a journal, mounted
``discard``, trims each freed block at once), the rename over a page pays for freeing
the old page, on the thread that renames: ten times the rename itself. :class:`Retired`
holds a handle on each old version while its rename is made and frees it on a thread of
its own, so a batch of renames does not wait on the disk.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import queue
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alttext.errors import RewriteError

__all__ = [
    "Identity",
    "Retired",
    "Staged",
    "Swept",
    "atomic_write",
    "commit",
    "discard",
    "identity",
    "stage",
    "sweep_directory",
    "sweep_leftovers",
    "sync_directories",
]

_TMP_SUFFIX = ".alttext-tmp"
#: ``.<page name>.<pid>-<counter or mkstemp's random part>.alttext-tmp``
_TMP_NAME = re.compile(r"\..+\.(?P<pid>[0-9]+)-[A-Za-z0-9_]+" + re.escape(_TMP_SUFFIX))
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Linux: a handle that holds a file (its inode) without the right to read it.
_O_PATH = getattr(os, "O_PATH", 0)


#: What identifies a version of a file: a rewrite in place changes its size or its
#: modification time, a replacement its inode. (A change within the filesystem's
#: timestamp granularity that keeps the size is not seen: no cheap check could see it.)
Identity = tuple[int, int, int, int]


def identity(info: os.stat_result) -> Identity:
    """The identity of the file version ``info`` describes (see :func:`stage`)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class Staged:
    """A file's new content, written next to it but not yet durable nor in place."""

    target: Path
    tmp: str
    #: The target as it was when its new content was worked out (``None``: it did not
    #: exist); :func:`commit` refuses to replace a target that is no longer this.
    was: Identity | None = None


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file to replace (a symlink's target: the link stays) and its ``stat``, if any."""
    # One lstat for the usual case; a full realpath would lstat every component of
    # every page's path.
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path, None
    if stat.S_ISLNK(info.st_mode):
        path = Path(os.path.realpath(path))
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return path, None
    return path, info


def _write_tmp(target: Path, info: os.stat_result | None, data: bytes, *, durable: bool) -> str:
    """Write ``data`` to a new temporary file beside ``target``, as ``info`` describes it:
    the same permission bits, owner and group (a new file: mode 0644, ours)."""
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o644
    fd, tmp_name = _create_tmp(target)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if info is not None:
                # Before the chmod: a chown may clear the setuid and setgid bits.
                _keep_owner(fd, info)
            # Exactly the page's bits (the umask applied at creation); Windows has no
            # fchmod, and its chmod only sets the read-only flag.
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp_name, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def _keep_owner(fd: int, page: os.stat_result) -> None:
    """Give the temporary file ``fd`` the page's owner and group, as far as we may.

    The rule (POSIX; Windows has no owners to keep): both are kept when we may change
    them (root). When we may not change the owner (another user's page in a folder we
    may write: any atomic save makes the page its writer's), the group is kept, so those
    who read the page through its group (a web server) still can: the permission bits
    are kept too. A group that cannot be kept either (one we are not a member of) fails
    the page rather than change who may read it.

    Raises:
        OSError: the group cannot be kept.
    """
    if not hasattr(os, "fchown"):  # pragma: no cover - Windows
        return
    # One fstat: a new file's group is ours or, in a setgid folder, the folder's.
    tmp = os.fstat(fd)
    if (tmp.st_uid, tmp.st_gid) == (page.st_uid, page.st_gid):
        return
    try:
        os.fchown(fd, page.st_uid, page.st_gid)
        return
    except OSError as exc:
        # EINVAL: an id this user namespace cannot map (a rootless container).
        if exc.errno not in (errno.EPERM, errno.EINVAL):
            raise
    if tmp.st_gid == page.st_gid:
        return
    try:
        os.fchown(fd, -1, page.st_gid)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EINVAL):
            raise
        raise PermissionError(
            exc.errno, f"cannot keep its group (gid {page.st_gid}): {exc.strerror}"
        ) from exc


_COUNTER = itertools.count()


def _create_tmp(target: Path) -> tuple[int, str]:
    """Create a new, private temporary file beside ``target`` (``O_EXCL``: never an old one).

    Named from the process id and a counter (mkstemp's random names cost more, and a
    batch creates hundreds); a name that exists already falls back to mkstemp, still with
    the process id in the name (see :func:`sweep_leftovers`).
    """
    prefix = f".{target.name}.{os.getpid()}-"
    name = os.path.join(target.parent, f"{prefix}{next(_COUNTER)}{_TMP_SUFFIX}")
    try:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600), name
    except FileExistsError:
        import tempfile  # rare: not worth its start-up time on every run

        return tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=_TMP_SUFFIX)


@dataclass(frozen=True, slots=True)
class Swept:
    """What :func:`sweep_directory` found: the leftovers it removed, and what it kept."""

    removed: list[Path]
    #: Temporary files of other runs still going, by their process id: not ours to
    #: remove (a caller says so, so that they are not a surprise).
    kept: dict[int, list[Path]]


def sweep_leftovers(directory: Path) -> list[Path]:
    """Remove the temporary files an interrupted run left in ``directory``; return them.

    See :func:`sweep_directory`, which also says what it kept.
    """
    return sweep_directory(directory).removed


def sweep_directory(directory: Path) -> Swept:
    """Remove the temporary files an interrupted run left in ``directory``.

    Only files named as :func:`_create_tmp` names them, by a process that no longer
    exists (or has ended and awaits reaping: a zombie): this process's own files and
    those of another run still going are kept. POSIX only (elsewhere nothing is
    removed: there is no harmless way to ask whether a process id is alive). A file
    that cannot be listed or removed is left where it is.
    """
    swept = Swept([], {})
    if os.name != "posix":
        return swept
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return swept
    me = os.getpid()
    for entry in entries:
        found = _TMP_NAME.fullmatch(entry.name)
        if found is None:
            continue
        pid = int(found["pid"])
        if pid == me:
            continue
        if _alive(pid):
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    swept.kept.setdefault(pid, []).append(Path(entry.path))
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                swept.removed.append(Path(entry.path))
        except OSError:
            continue
    return swept


def _alive(pid: int) -> bool:
    """Whether a process with this id exists and has not ended.

    Signal 0 checks without signalling, but succeeds for a zombie too: a process that
    has ended and whose parent has not reaped it yet (for a while after a kill, or for
    ever in a container whose PID 1 does not reap). On Linux its state says so.
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        if pid <= 0:
            return False  # another user's process (or an id this platform cannot ask about)
    return not _ended(pid)


def _ended(pid: int) -> bool:
    """Whether Linux says process ``pid`` is a zombie (``Z``) or dead (``X``)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            line = file.read()
    except OSError:  # no /proc mounted (or it just went): keep what kill said
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows
    # the last ")".
    fields = line[line.rfind(b")") + 1 :].split()
    return bool(fields) and fields[0] in (b"Z", b"X")


def atomic_write(path: Path, data: bytes, *, dirs_to_sync: set[Path] | None = None) -> None:
    """Replace the file at ``path`` with ``data`` atomically, keeping its permission bits.

    Writes a temporary file in the same directory, flushes and fsyncs it, then renames it
    over ``path``; a symlink is followed so the link stays a link. On any failure the
    temporary file is removed and the original is untouched. A new file gets mode 0644.

    The directory is fsynced too, so the rename survives a power cut; a caller writing
    many files passes ``dirs_to_sync`` to collect the directories and calls
    :func:`sync_directories` once at the end instead of once per file.

    Raises:
        RewriteError: the file could not be written or replaced.
    """
    tmp_name: str | None = None
    try:
        target, info = _target(path)
        tmp_name = _write_tmp(target, info, data, durable=True)
        os.replace(tmp_name, target)
        tmp_name = None
        if dirs_to_sync is None:
            _fsync_dir(target.parent)
        else:
            dirs_to_sync.add(target.parent)
    except OSError as exc:
        raise RewriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)


def stage(path: Path, data: bytes, *, read: Identity | None = None) -> Staged:
    """Write ``data`` beside ``path`` for a later :func:`commit`; ``path`` is untouched.

    The commit replaces ``path`` only if it is still the version ``data`` was worked out
    from: ``read``, the :func:`identity` of the file whose bytes were read (from an
    ``os.fstat`` of it taken before reading), which also covers a change between that
    read and this call; without it, the version found now.

    Raises:
        RewriteError: the temporary file could not be written.
    """
    try:
        target, info = _target(path)
        tmp = _write_tmp(target, info, data, durable=False)
    except OSError as exc:
        raise RewriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if read is not None:
        return Staged(target, tmp, read)
    return Staged(target, tmp, identity(info) if info is not None else None)


class Retired:
    """The old versions of files being replaced, freed on a thread of their own.

    :meth:`hold` opens a handle on the file about to be replaced; after the rename the
    old version lives on (unnamed) until :meth:`release` hands that handle to the
    closing thread, whose ``close`` is what frees its blocks. At most ``limit`` handles
    are open at once: past that, :meth:`release` waits for the thread. :meth:`close`
    waits until every handle is closed. Where the platform has no ``O_PATH`` (all but
    Linux) nothing is held and each rename frees the old version itself.
    """

    def __init__(self, limit: int = 256) -> None:
        self._handles: queue.Queue[int | None] = queue.Queue(maxsize=limit)
        self._thread: threading.Thread | None = None

    def hold(self, path: Path) -> int | None:
        """A handle on the file now at ``path`` (not a symlink's target), or ``None``.

        Raises:
            FileNotFoundError: there is no file at ``path``.
            OSError: it cannot be opened.
        """
        if not _O_PATH:  # pragma: no cover - not Linux
            return None
        return os.open(path, _O_PATH | _O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))

    def release(self, handle: int) -> None:
        """Close ``handle`` on the closing thread (started on first use)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._close_all, name="alttext-retire", daemon=True
            )
            self._thread.start()
        self._handles.put(handle)

    def close(self) -> None:
        """Wait until every handle released so far is closed."""
        if self._thread is not None:
            self._handles.put(None)
            self._thread.join()
            self._thread = None

    def _close_all(self) -> None:
        while (handle := self._handles.get()) is not None:
            with contextlib.suppress(OSError):
                os.close(handle)


def commit(
    staged: Iterable[Staged], dirs_to_sync: set[Path], retired: Retired | None = None
) -> list[tuple[Staged, str]]:
    """Make every staged file durable with one barrier, then rename each into place.

    A target that changed since it was staged (see :func:`stage`) is not replaced: it
    keeps what its other writer wrote. The directories renamed into are added to
    ``dirs_to_sync`` (see :func:`sync_directories`). With ``retired``, the old versions
    are freed on its thread rather than by each rename. Returns the files that were not
    renamed, with why; their temporary files are removed and their targets untouched.
    """
    staged = list(staged)
    try:
        _make_durable([s.tmp for s in staged])
    except OSError as exc:  # nothing is renamed before its bytes are safe
        discard(staged)
        return [(item, f"cannot write {item.target}: {exc.strerror or exc}") for item in staged]
    failed = []
    for item in staged:
        held = None
        try:
            # The last look before the rename: as close to it as we can be.
            if retired is not None:
                held, now = _held_identity(retired, item.target)
            else:
                now = _identity_now(item.target)
            if now != item.was:
                failed.append((item, f"{item.target} changed during the run; re-run alttext fix"))
                discard([item])
                continue
            try:
                os.replace(item.tmp, item.target)
            except OSError as exc:
                failed.append((item, f"cannot replace {item.target}: {exc.strerror or exc}"))
                discard([item])
                continue
        finally:
            if held is not None:
                assert retired is not None
                retired.release(held)
        dirs_to_sync.add(item.target.parent)
    return failed


def _held_identity(retired: Retired, target: Path) -> tuple[int | None, Identity | None]:
    """A handle on ``target`` (see :class:`Retired`) and the identity of what it holds."""
    try:
        held = retired.hold(target)
    except FileNotFoundError:
        return None, None
    except OSError:
        return None, (-1, -1, -1, -1)  # cannot tell: not the version staged against
    if held is None:  # pragma: no cover - not Linux
        return None, _identity_now(target)
    try:
        return held, identity(os.fstat(held))
    except OSError:
        return held, (-1, -1, -1, -1)


def _identity_now(target: Path) -> Identity | None:
    try:
        return identity(os.stat(target))
    except FileNotFoundError:
        return None
    except OSError:
        return (-1, -1, -1, -1)  # cannot tell: not the version staged against


def discard(staged: Iterable[Staged]) -> None:
    """Remove staged temporary files (an interrupted run): their targets stay as they were."""
    for item in staged:
        with contextlib.suppress(OSError):
            os.unlink(item.tmp)


def sync_directories(directories: set[Path]) -> None:
    """Make the renames in ``directories`` durable (see ``dirs_to_sync``).

    One ``syncfs`` per filesystem where the platform has it, else an fsync per directory.
    """
    if not directories:
        return
    if _syncfs() is not None and _sync_filesystems(directories, files=False):
        return
    for directory in sorted(directories):
        _fsync_dir(directory)


def _make_durable(paths: list[str]) -> None:
    """Flush the files at ``paths`` to disk: a ``syncfs`` per filesystem, else fsync each."""
    if not paths:
        return
    if _syncfs() is not None and _sync_filesystems(paths, files=True):
        return
    for path in paths:
        _fsync_path(path)


def _sync_filesystems(paths: Iterable[str | Path], *, files: bool) -> bool:
    """``syncfs`` once per filesystem holding ``paths``; ``False`` (fall back) on any failure."""
    syncfs = _syncfs()
    assert syncfs is not None
    one_per_device: dict[int, str | Path] = {}
    # A new file is on its folder's filesystem: one stat per folder (a folder itself may
    # be a mount point: it is stat'ed as it is). A site is usually on one filesystem: one
    # syncfs in all.
    folders = {os.path.dirname(os.fspath(p)) or "." for p in paths} if files else set(paths)
    try:
        for folder in folders:
            one_per_device.setdefault(os.stat(folder).st_dev, folder)
    except OSError:
        return False
    for path in one_per_device.values():
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            if syncfs(fd) != 0:
                return False
        finally:
            os.close(fd)
    return True


@lru_cache(maxsize=1)
def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)`` (not in :mod:`os`), or ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: a few milliseconds of start-up otherwise

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    result: Callable[[int], int] = function
    return result


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
