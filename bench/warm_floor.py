"""The file-system work a warm ``fix`` cannot skip on the tiny-page site, next to ``check``.

A warm ``fix`` of 400 near-empty pages, each with its own image, must still read and hash
each image (the cache key) and replace each page atomically: create a file beside it,
write it, one durability barrier, rename it over the page. ``check`` does none of that.
This measures that work alone, in one process with nothing else running (the least it
can cost), alternating with ``alttext check`` on fresh copies of the same site, and prints
the ratio a ``fix`` with no other cost at all would have: (check + floor) / check.

    python bench/warm_floor.py --runs 7
    python bench/warm_floor.py --runs 7 --under /dev/shm   # on a memory-backed filesystem
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


def floor(site: Path) -> float:
    """Seconds for the unavoidable I/O of a warm fix of ``site`` (it is rewritten)."""
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
    fd = os.open(site, os.O_RDONLY)
    try:
        if _SYNCFS is not None:
            _SYNCFS(fd)
        else:
            for tmp, _ in staged:
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
        for tmp, page in staged:
            os.replace(tmp, page)
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


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
    floors, checks = [], []
    for _ in range(args.runs):
        floors.append(floor(fresh(site, "floor", under)))
        copy = fresh(site, "floor-check", under)
        checks.append(timed(check_cmd(copy, "--site-root", str(copy))).seconds)
    for name in ("floor", "floor-check"):
        shutil.rmtree((under or WORK) / name, ignore_errors=True)
    f, c = statistics.median(floors), statistics.median(checks)
    ratios = [(ci + fi) / ci for fi, ci in zip(floors, checks, strict=True)]
    print(f"floor I/O: median {f * 1e3:.0f} ms  ({' '.join(f'{x * 1e3:.0f}' for x in floors)})")
    print(f"check:     median {c * 1e3:.0f} ms  ({' '.join(f'{x * 1e3:.0f}' for x in checks)})")
    print(f"(check + floor) / check: median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
