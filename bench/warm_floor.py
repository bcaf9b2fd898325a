"""The file-system work a warm ``fix`` cannot skip on the tiny-page site, next to ``check``.

A warm ``fix`` of 400 near-empty pages, each with its own image, must still read and hash
each image (the cache key) and replace each page atomically: create a file beside it,
write it, one durability barrier, rename it over the page. ``check`` does none of that.
This measures that work alone, in one process with nothing else running (the least it
can cost), alternating with ``alttext check`` on fresh copies of the same site, and prints
the ratio a ``fix`` with no other cost at all would have: (check + floor) / check.

    python bench/warm_floor.py --runs 7
    python bench/warm_floor.py --runs 7 --under /dev/shm   # on a memory-backed filesystem

It also prints the phases of that work (write, barrier, renames) and what removing 400
files costs, empty and of a page's size: on a filesystem where freeing a data block is
dear, that is most of the renames' cost.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fix import WORK, check_cmd, fresh, timed, unique_site
from installed import byte_compile_package

_SYNCFS = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def floor(site: Path) -> tuple[float, dict[str, float]]:
    """Seconds for the unavoidable I/O of a warm fix of ``site`` (it is rewritten), and
    the seconds of each phase: hash + create + write, the barrier, the renames."""
    start = time.perf_counter()
    staged = []
    for page in sorted(site.glob("page*.html")):
        data = page.read_bytes()
        image = site / "img" / f"i{int(page.stem[4:]) % 400}.png"
        hashlib.sha256(image.read_bytes()).hexdigest()
        tmp = page.with_name(f".{page.name}.floor-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data.replace(b"<img ", b'<img alt="A small coloured square" ', 1))
        finally:
            os.close(fd)
        staged.append((tmp, page))
    written = time.perf_counter()
    fd = os.open(site, os.O_RDONLY)
    try:
        if _SYNCFS is not None:
            _SYNCFS(fd)
        else:
            for tmp, _ in staged:
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
        synced = time.perf_counter()
        # Each rename frees the page's old inode and its data block: on some filesystems
        # that, not the rename, is most of the cost.
        for tmp, page in staged:
            os.replace(tmp, page)
        renamed = time.perf_counter()
        os.fsync(fd)
    finally:
        os.close(fd)
    end = time.perf_counter()
    phases = {"write": written - start, "barrier": synced - written, "rename": renamed - synced}
    return end - start, phases


def unlink_cost(folder: Path, size: int, count: int = 400) -> float:
    """Seconds to remove ``count`` files of ``size`` bytes written out to disk: what the
    renames above cost, as each frees the replaced page's inode and data."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [folder / f"f{n}" for n in range(count)]
    for name in names:
        name.write_bytes(b"x" * size)
    os.sync()
    start = time.perf_counter()
    for name in names:
        name.unlink()
    seconds = time.perf_counter() - start
    folder.rmdir()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--under", type=Path, default=None, help="copy the site there")
    args = parser.parse_args()
    under: Path | None = args.under / "alttext-floor" if args.under else None
    if under is not None:
        under.mkdir(parents=True, exist_ok=True)
    byte_compile_package()
    WORK.mkdir(parents=True, exist_ok=True)
    site = unique_site(WORK / "unique400", 400, 400)
    floors, checks, phases = [], [], []
    for _ in range(args.runs):
        seconds, phase = floor(fresh(site, "floor", under))
        floors.append(seconds)
        phases.append(phase)
        copy = fresh(site, "floor-check", under)
        checks.append(timed(check_cmd(copy, "--site-root", str(copy))).seconds)
    for name in ("floor", "floor-check"):
        shutil.rmtree((under or WORK) / name, ignore_errors=True)
    f, c = statistics.median(floors), statistics.median(checks)
    ratios = [(ci + fi) / ci for fi, ci in zip(floors, checks, strict=True)]
    print(f"floor I/O: median {f * 1e3:.0f} ms  ({' '.join(f'{x * 1e3:.0f}' for x in floors)})")
    print(f"check:     median {c * 1e3:.0f} ms  ({' '.join(f'{x * 1e3:.0f}' for x in checks)})")
    for name in phases[0]:
        each = statistics.median(p[name] for p in phases)
        print(f"  {name:8s} median {each * 1e3:.1f} ms of the floor")
    place = (under or WORK) / "unlink"
    for size in (0, 600):
        runs = [unlink_cost(place, size) for _ in range(5)]
        print(f"removing 400 files of {size} bytes: median {statistics.median(runs) * 1e3:.1f} ms")
    print(f"(check + floor) / check: median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
