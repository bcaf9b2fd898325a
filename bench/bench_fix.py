"""Benchmarks of ``alttext fix`` against the loopback WaveSpeed server, every run end to end.

Every timed ``fix`` or ``check`` is ``python -m alttext ...`` in a fresh subprocess (start-up,
imports and all); peak RSS is the ``VmHWM`` of that process and of its largest worker,
sampled while they run. The WaveSpeed API is the test suite's stateful loopback server
(``tests/servers/wavespeed.py``) with a fixed per-task latency: in sync mode the submit
answers after ``--latency`` seconds; in polling mode a task is ``processing`` until
``--latency`` seconds after its submit and ``completed`` at the first poll after that.
Images are uploaded through tickets (the default transport for local files).

Scenarios:

* ``a``: 400 pages with 400 distinct PNGs, ``--jobs 16``: wall time over the ideal
  ``400 / 16 * latency``; sync mode, polling with the default poll schedule (first poll
  after 0.3 s), and polling with a first poll at ``latency`` (through the library API, as
  the CLI has no poll-schedule option);
* ``b``: one image on 1,000 pages: backend calls (submits the server saw);
* ``c``: warm run: ``fix`` on a fresh copy of a site whose captions are cached (the 400-page
  site of ``a``; 400 ``make_corpus`` pages, all with alt, plus a distinct PNG without alt on
  each; a ``make_corpus`` corpus), side by side with ``check`` on another fresh copy;
  backend requests and the time ratio; on the disk, where ``/dev/shm`` is writable on
  tmpfs (the same work without the disk's cost of creating, renaming and flushing
  files), and in each ``--place NAME=DIR`` (another filesystem); then the tiny site on
  disk with ``--patch`` (all of ``fix`` but replacing the pages), the corpus with
  ``--report`` (SARIF), the corpus decided by a catalog with an empty cache each run (a
  CI runner that keeps no cache: no page memo either), and the corpus with a catalog of
  which one entry is reviewed before each run. The JSON's ``machine.filesystems`` says
  what each place is (type, mount options, for ext4 whether it has a journal);
* ``d``: warm ``fix`` throughput (pages/s, MB/s of HTML) and peak RSS on generated SSG-like
  corpora (``make_corpus.py``) of growing size, with an image file for every reference
  (raster files from a pool of 40 per format, SVGs with a ``<title>``);
* ``e``: cold ``fix`` (offline backend, empty cache) of sites where every page has its own
  image (alt in its PNG metadata): peak RSS of the main process and the largest worker as
  the number of distinct images grows.

Examples::

    python bench/bench_fix.py --runs 3 --sizes 1000,10000 > bench/.work/fix.md
    python bench/bench_fix.py --runs 5 --sizes 1000 --only c --place ext4-journal=/mnt/ext4j
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "fix"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from installed import byte_compile_package  # noqa: E402
from make_corpus import DEFAULT_OUT, CorpusSpec, generate  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402
from servers import Received, Reply  # noqa: E402
from servers.wavespeed import API_KEY, WaveSpeedServer, _envelope, _envelope_error  # noqa: E402

_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
_REF = re.compile(r'\b(?:src|srcset)="([^"]+)"')


class LatencyServer(WaveSpeedServer):
    """The loopback WaveSpeed API where every task takes ``latency`` seconds."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency
        self._started: dict[str, float] = {}

    def dispatch(self, handler: Any) -> None:
        # http.server writes the headers and the body of an answer in two send() calls;
        # with Nagle on, the body waits for the client's delayed ACK (~40 ms on Linux), a
        # stall no production server has. Send small segments at once, as they do.
        handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().dispatch(handler)

    def _submit(self, request: Received) -> Reply:
        sync = b'"enable_sync_mode": true' in request.body
        if sync:
            time.sleep(self.latency)  # the model runs while the submit waits
        reply = super()._submit(request)
        if not sync and isinstance(reply.body, dict) and "data" in reply.body:
            with self.lock:
                self._started[reply.body["data"]["id"]] = time.monotonic()
        return reply

    def _poll(self, request: Received) -> Reply:
        task_id = request.path.split("?")[0].split("/")[4]
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return _envelope_error(404, f"prediction {task_id} not found")
            task.polls += 1
            if task.status in ("created", "processing"):
                done = time.monotonic() - self._started[task_id] >= self.latency
                if done:
                    self._finish(task)
                else:
                    task.status = "processing"
            return _envelope(self._data(task))


@contextmanager
def serving(latency: float) -> Iterator[LatencyServer]:
    server = LatencyServer(latency)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- running things ------------------------------------------------------------------------


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    out.update(WAVESPEED_API_KEY=API_KEY, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    out.pop("ALTTEXT_CACHE_DIR", None)
    return out


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (workers, a forkserver and its children), from ``/proc``."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            for task in Path(f"/proc/{parent}/task").iterdir():
                kids = [int(k) for k in (task / "children").read_text().split()]
                found.extend(kids)
                todo.extend(kids)
        except OSError:
            pass  # gone meanwhile
    return found


def _hwm_kib(pid: int) -> int:
    """``VmHWM`` (peak resident set) of ``pid`` in KiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Run:
    """One timed command: wall seconds, exit status, peak RSS of the main process and of
    the largest worker (MiB, from ``VmHWM`` sampled every 20 ms while they run)."""

    seconds: float
    code: int
    main_mib: float
    worker_mib: float


def timed(cmd: list[str]) -> Run:
    """Run ``cmd``, sampling the peak RSS of it and of its child processes.

    ``VmHWM`` rather than ``wait4``'s ``ru_maxrss``: Linux carries ``ru_maxrss`` over from
    the parent across fork and exec, so this growing harness would inflate every figure.
    ``VmHWM`` is a peak, so a sample shortly before a process exits still sees its maximum.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO
    )
    assert proc.stderr is not None
    err = threading.Thread(target=proc.stderr.read, daemon=True)  # never block on a full pipe
    err.start()
    peaks: dict[int, int] = {}
    while True:
        for pid in [proc.pid, *_descendants(proc.pid)]:
            peaks[pid] = max(peaks.get(pid, 0), _hwm_kib(pid))
        done, status = os.waitpid(proc.pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    err.join()
    main = peaks.pop(proc.pid, 0)
    worker = max(peaks.values(), default=0)
    return Run(seconds, os.waitstatus_to_exitcode(status), main / 1024, worker / 1024)


def fix_cmd(site: Path, server: LatencyServer, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "alttext",
        "fix",
        str(site),
        "--backend",
        "wavespeed",
        "--api-base",
        server.url,
        "--rate",
        "0",
        "--cache-dir",
        str(cache),
        "--no-remote",
        "-q",
        *extra,
    ]


def check_cmd(site: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "alttext", "check", str(site), "--format", "json", "-q", *extra]


_POLL_DRIVER = """
import sys
from pathlib import Path
from alttext.captioners.retry import PollSchedule
from alttext.captioners.wavespeed import WaveSpeedCaptioner
from alttext.config import Config
from alttext.pipeline.describe import Describer
from alttext.pipeline.fix import run_fix
from alttext.store.cache import CaptionCache
site, url, cache, first, key = sys.argv[1:6]
config = Config(backend="wavespeed", rate=0, jobs=16, cache_dir=Path(cache), remote=False)
with CaptionCache(Path(cache)) as store:
    backend = WaveSpeedCaptioner(key, base_url=url, max_concurrent=16, per_minute=None,
        poll_schedule=PollSchedule(first=float(first)), journal=store)
    report = run_fix([Path(site)], config, env={}, describer=Describer(config, backend, store))
sys.exit(0 if report.ok else 1)
"""


def fresh(src: Path, name: str, under: Path | None = None) -> Path:
    """A new copy of ``src`` (in ``WORK``, or ``under``), written out to disk.

    Synced so a timed run starts from the same clean page cache whatever it does: without
    it, the first durability barrier of ``fix`` would also flush this harness's copy.
    """
    dest = (under or WORK) / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    os.sync()
    return dest


def html_bytes(site: Path) -> tuple[int, int]:
    files = [p for p in site.rglob("*.html")]
    return len(files), sum(p.stat().st_size for p in files)


# -- sites ----------------------------------------------------------------------------------


def raster(fmt: str, index: int, size: tuple[int, int] = (64, 48)) -> bytes:
    colour = (index * 37 % 256, index * 91 % 256, index * 53 % 256)
    buf = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.putpixel((index % size[0], index // size[0] % size[1]), (255 - colour[0], 0, 0))
    image.save(buf, _FORMATS[fmt])
    return buf.getvalue()


def unique_site(root: Path, pages: int, images: int) -> Path:
    """``pages`` small pages, page ``i`` showing image ``i % images`` without alt."""
    if root.exists():
        return root
    (root / "img").mkdir(parents=True)
    for i in range(images):
        (root / "img" / f"i{i}.png").write_bytes(raster("png", i))
    for p in range(pages):
        (root / f"page{p}.html").write_text(
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Page {p}</title>'
            f"</head><body><h1>Page {p}</h1><p>{'Some text. ' * 40}</p>"
            f'<figure><img src="img/i{p % images}.png" width="64" height="48">'
            "<figcaption>A figure</figcaption></figure></body></html>\n",
            encoding="utf-8",
        )
    return root


def many_images_site(pages: int) -> Path:
    """Docs-like pages of 10-30 KB with ~10 images each (8 in 10 without alt, the rest
    with), drawn from 6 shared images: a warm run recalls several images per page, where
    ``make_corpus`` pages have few."""
    root = WORK / f"many-images-p{pages}"
    if (root / ".complete").exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    (root / "img").mkdir(parents=True)
    for i in range(6):
        (root / "img" / f"p{i}.png").write_bytes(raster("png", i, (200 + i, 150)))
    rng = random.Random(1)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "static",
        "site",
        "image",
        "caption",
        "docs",
    ]
    for n in range(pages):
        page = root / f"section{n % 20}" / f"page{n}.html"
        page.parent.mkdir(exist_ok=True)
        parts = [
            f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Page {n}'
            f"</title></head>\n<body>\n<main>\n<h1>Page {n}</h1>\n"
        ]
        size, written, k = rng.randint(10_000, 30_000), 0, 0
        while written < size:
            para = "<p>" + " ".join(rng.choice(words) for _ in range(rng.randint(40, 120)))
            para += ".</p>\n"
            if k % 3 == 0:
                src = f"/img/p{rng.randrange(6)}.png"
                if rng.random() < 0.8:
                    para += f'<figure><img src="{src}" width="200"><figcaption>Figure {k}'
                    para += "</figcaption></figure>\n"
                else:
                    para += f'<img src="{src}" alt="Already described">\n'
            parts.append(para)
            written += len(para)
            k += 1
        parts.append("</main>\n</body>\n</html>\n")
        page.write_text("".join(parts), encoding="utf-8")
    (root / ".complete").write_text("")
    return root


def corpus_site(pages: int) -> Path:
    """A ``make_corpus`` corpus plus a file for every image it references."""
    return _corpus(WORK / f"corpus-p{pages}", CorpusSpec(pages=pages), DEFAULT_OUT / f"p{pages}")


def unique_corpus_site(pages: int) -> Path:
    """``make_corpus`` pages whose own images all have alt, plus one figure per page with a
    distinct PNG and no alt: the unique-image site at the size of real pages."""
    root = WORK / f"unique-corpus-p{pages}"
    if (root / ".complete-2").exists():
        return root
    spec = CorpusSpec(pages=pages, missing_share=0.0)
    _corpus(root, spec, DEFAULT_OUT / f"p{pages}-all-alt", stamp=False)
    (root / "unique").mkdir()
    for index, page in enumerate(sorted(root.rglob("*.html"))):
        (root / "unique" / f"i{index}.png").write_bytes(raster("png", index))
        figure = f'<figure><img src="/unique/i{index}.png"><figcaption>Figure</figcaption></figure>'
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("</body>", figure + "</body>", 1), encoding="utf-8")
    (root / ".complete-2").write_text("")
    return root


def _corpus(root: Path, spec: CorpusSpec, source: Path, *, stamp: bool = True) -> Path:
    if (root / ".complete-2").exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    generate(spec, source)
    shutil.copytree(source, root)
    refs: set[str] = set()
    for page in root.rglob("*.html"):
        for value in _REF.findall(page.read_text(encoding="utf-8")):
            for candidate in value.split(","):
                url = candidate.strip().split(" ")[0]
                if url.startswith("/assets/"):
                    refs.add(url)
    pool: dict[tuple[str, int], bytes] = {}
    for url in sorted(refs):
        ext = url.rsplit(".", 1)[-1].lower()
        variant = int(hashlib.sha1(url.encode()).hexdigest(), 16) % 40
        if ext == "svg":
            data = (
                f'<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24">'
                f"<title>Icon number {variant}</title><rect width='24' height='24'/></svg>"
            ).encode()
        else:
            # Pillow here cannot write AVIF: those files hold PNG bytes (the loader sniffs
            # the content, not the extension).
            fmt = ext if ext in _FORMATS else "png"
            if (fmt, variant) not in pool:
                pool[(fmt, variant)] = raster(fmt, variant + 40 * list(_FORMATS).index(fmt))
            data = pool[(fmt, variant)]
        target = root / url.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if stamp:
        (root / ".complete-2").write_text("")
    return root


# -- scenarios -------------------------------------------------------------------------------


def scenario_a(runs: int, latency: float) -> list[dict[str, Any]]:
    site = unique_site(WORK / "unique400", 400, 400)
    ideal = 400 / 16 * latency
    rows = []
    variants: list[tuple[str, list[str] | None]] = [
        ("sync (`--sync`)", ["--sync"]),
        ("polling, default schedule (first poll 0.3 s)", []),
        (f"polling, first poll at {latency} s (library API)", None),
    ]
    for label, extra in variants:
        times, submits, codes = [], [], []
        for run in range(runs):
            copy, cache = fresh(site, "a-site"), WORK / f"a-cache-{run}"
            shutil.rmtree(cache, ignore_errors=True)
            with serving(latency) as server:
                if extra is None:
                    cmd = [sys.executable, "-c", _POLL_DRIVER, str(copy), server.url]
                    cmd += [str(cache), str(latency), API_KEY]
                else:
                    cmd = fix_cmd(copy, server, cache, "--jobs", "16", *extra)
                result = timed(cmd)
                seconds, code = result.seconds, result.code
                submits.append(len(server.requests("submit")))
                codes.append(code)
                times.append(seconds)
            log(f"a {label} run {run}: {seconds:.2f}s exit {code} submits {submits[-1]}")
        median = statistics.median(times)
        rows.append(
            {
                "mode": label,
                "times": times,
                "median_s": median,
                "ideal_s": ideal,
                "ratio": median / ideal,
                "submits": submits,
                "exit": codes,
            }
        )
    return rows


def scenario_b(latency: float) -> dict[str, Any]:
    site = WORK / "one-on-1000"
    if not site.exists():
        (site / "img").mkdir(parents=True)
        (site / "img" / "one.png").write_bytes(raster("png", 7))
        for p in range(1000):
            (site / f"page{p}.html").write_text(
                f'<html lang="en"><title>{p}</title><p>Text</p><img src="img/one.png"></html>\n'
            )
    copy, cache = fresh(site, "b-site"), WORK / "b-cache"
    shutil.rmtree(cache, ignore_errors=True)
    with serving(latency) as server:
        result = timed(fix_cmd(copy, server, cache, "--jobs", "16"))
        seconds, code = result.seconds, result.code
        submits = len(server.requests("submit"))
    changed = sum(b'alt="' in p.read_bytes() for p in copy.glob("*.html"))
    log(f"b: {seconds:.2f}s exit {code} submits {submits} pages with alt {changed}")
    return {"seconds": seconds, "exit": code, "submits": submits, "pages_filled": changed}


def warm(site: Path, name: str) -> Path:
    """Fill a cache for ``site`` with one cold ``fix`` (sync mode, no latency)."""
    cache = WORK / f"{name}-cache"
    shutil.rmtree(cache, ignore_errors=True)
    copy = fresh(site, f"{name}-warmup")
    with serving(0.0) as server:
        result = timed(
            fix_cmd(copy, server, cache, "--jobs", "16", "--sync", "--site-root", str(copy))
        )
        seconds, code = result.seconds, result.code
        submits = len(server.requests("submit"))
    log(f"warm-up {name}: {seconds:.1f}s exit {code} submits {submits}")
    shutil.rmtree(copy)
    return cache


#: Where a memory-backed filesystem is mounted (Linux): the warm run there shows what
#: ``fix`` costs apart from the disk's file creation, renames and flushes.
TMPFS = Path("/dev/shm")


def filesystem_of(path: Path) -> dict[str, str]:
    """The filesystem holding ``path``: type, mount options and, for ext4, whether it has a
    journal (without one, ext4 skips inodes freed in the last minutes when it allocates a
    new one, so creating files right after many were removed costs more)."""
    path = path.resolve()
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            table = [line.split() for line in mounts]
    except OSError:  # not Linux
        return {}
    # The mount point nearest to ``path`` (the longest one above it).
    above = [fields for fields in table if path.is_relative_to(fields[1])]
    if not above:
        return {}
    best = max(above, key=lambda fields: len(fields[1]))
    facts = {"device": best[0], "mount": best[1], "type": best[2], "options": best[3]}
    task = Path("/sys/fs/ext4") / Path(best[0]).name / "journal_task"
    if best[2] == "ext4" and task.exists():
        facts["journal"] = "no" if "none" in task.read_text() else "yes"
    return facts


def scenario_c(
    runs: int, corpus_pages: int, more_places: Sequence[tuple[str, Path]] = ()
) -> list[dict[str, Any]]:
    rows = []
    sites = [("400 pages, 400 PNGs", unique_site(WORK / "unique400", 400, 400))]
    sites.append(("400 make_corpus pages, one more PNG each", unique_corpus_site(400)))
    sites.append(("1,000 docs pages, ~10 images each", many_images_site(1000)))
    sites.append((f"make_corpus {corpus_pages} pages", corpus_site(corpus_pages)))
    places: list[tuple[str, Path | None]] = [("disk", None)]
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        places.append(("tmpfs", TMPFS / "alttext-bench"))
    places.extend((name, folder / "alttext-bench") for name, folder in more_places)
    for label, site in sites:
        cache = warm(site, "c")
        for place, under in places:
            if under is not None:
                under.mkdir(exist_ok=True)
            rows.append(_warm_vs_check(label, place, site, cache, runs, under))
            if under is not None:
                shutil.rmtree(under, ignore_errors=True)
    # The tiny site again with --patch: all of fix but replacing the pages, so the
    # difference from its disk row is what replacing 400 pages atomically costs here.
    label, site = sites[0]
    patch = ("--patch", str(WORK / "c-tiny.patch"))
    rows.append(
        _warm_vs_check(f"{label}, --patch", "disk", site, warm(site, "c"), runs, None, patch)
    )
    # The same with a report (a CI gate that publishes SARIF): its first run audits and
    # remembers the findings, the timed runs after it replay them.
    label, site = sites[-1]
    report = WORK / "c-report.sarif"
    extra = ("--report", str(report), "--report-format", "sarif")
    rows.append(
        _warm_vs_check(f"{label}, --report", "disk", site, warm(site, "c"), runs, None, extra)
    )
    # A CI runner that keeps no cache between builds, with a committed catalog: every
    # image is decided by the catalog, and there is no page memo to recall pages from.
    catalog = WORK / "c-catalog.json"
    catalog.unlink(missing_ok=True)
    with serving(0.0) as server:  # the cold run that writes the catalog
        copy = fresh(site, "c-catalog")
        cold = WORK / "c-catalog-cache"
        shutil.rmtree(cold, ignore_errors=True)
        timed(
            fix_cmd(
                copy, server, cold, "--sync", "--site-root", str(copy), "--catalog", str(catalog)
            )
        )
    empty = WORK / "c-empty-cache"
    label = f"{label}, --catalog, empty cache (a CI runner)"
    with_catalog = ("--catalog", str(catalog))
    rows.append(
        _warm_vs_check(label, "disk", site, empty, runs, None, with_catalog, empty_cache=True)
    )
    # A person reviews one catalog entry between builds: only the pages showing that
    # image are scanned again (the cache warmed by the CI row's cold run).
    label, site = sites[-1]

    def review_one(run: int) -> None:
        entries = json.loads(catalog.read_text())
        key = sorted(entries)[run % len(entries)]
        entries[key].update(reviewed=True, alt=f"An alt a person wrote, take {run}")
        catalog.write_text(json.dumps(entries))

    label = f"{label}, --catalog, one entry reviewed before each run"
    rows.append(
        _warm_vs_check(label, "disk", site, cold, runs, None, with_catalog, before_run=review_one)
    )
    return rows


def _warm_vs_check(
    label: str,
    place: str,
    site: Path,
    cache: Path,
    runs: int,
    under: Path | None,
    extra: tuple[str, ...] = (),
    *,
    empty_cache: bool = False,
    before_run: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    fix_times, check_times, ratios, codes = [], [], [], []
    with serving(0.0) as server:
        if extra and not empty_cache:  # the first runs with these options (untimed)
            for _ in range(2):  # (a catalog run records answers the next one reads)
                copy = fresh(site, "c-fix", under)
                timed(fix_cmd(copy, server, cache, "--site-root", str(copy), *extra))
        for run in range(runs):
            if empty_cache:
                shutil.rmtree(cache, ignore_errors=True)
            if before_run is not None:
                before_run(run)
            copy = fresh(site, "c-fix", under)
            cmd = fix_cmd(copy, server, cache, "--jobs", "16", "--site-root", str(copy), *extra)
            result = timed(cmd)
            fix_times.append(result.seconds)
            codes.append(result.code)
            copy = fresh(site, "c-check", under)
            check_s = timed(check_cmd(copy, "--site-root", str(copy))).seconds
            check_times.append(check_s)
            ratios.append(result.seconds / check_s)
            log(f"c {label} ({place}) run {run}: fix {result.seconds:.2f}s check {check_s:.2f}s")
        requests = len(server.requests())
    return {
        "site": label,
        "filesystem": place,
        "fix_s": statistics.median(fix_times),
        "check_s": statistics.median(check_times),
        "ratio": statistics.median(ratios),
        "fix_times": fix_times,
        "check_times": check_times,
        "backend_requests": requests,
        "exit": codes,
    }


def scenario_d(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for pages in sizes:
        site = corpus_site(pages)
        cache = warm(site, f"d{pages}")
        count, size = html_bytes(site)
        with serving(0.0) as server:
            copy = fresh(site, "d-fix")
            result = timed(fix_cmd(copy, server, cache, "--jobs", "16", "--site-root", str(copy)))
            seconds, code = result.seconds, result.code
            requests = len(server.requests())
        changed = sum(
            p.read_bytes() != (site / p.relative_to(copy)).read_bytes()
            for p in copy.rglob("*.html")
        )
        shutil.rmtree(copy)
        log(
            f"d {pages}: {seconds:.1f}s exit {code} peak RSS main {result.main_mib:.0f} MiB,"
            f" worker {result.worker_mib:.0f} MiB, changed {changed}"
        )
        rows.append(
            {
                "pages": count,
                "mb": size / 1e6,
                "seconds": seconds,
                "pages_per_s": count / seconds,
                "mb_per_s": size / 1e6 / seconds,
                "peak_rss_main_mib": round(result.main_mib, 1),
                "peak_rss_worker_mib": round(result.worker_mib, 1),
                "files_changed": changed,
                "backend_requests": requests,
                "exit": code,
            }
        )
    return rows


def distinct_site(pages: int) -> Path:
    """``pages`` pages, each with its own PNG (its alt in the PNG's metadata): every image
    is new to the run, so nothing is shared or remembered."""
    root = WORK / f"distinct{pages}"
    if root.exists():
        return root
    (root / "img").mkdir(parents=True)
    for i in range(pages):
        info = PngImagePlugin.PngInfo()
        info.add_text("Description", f"Chart {i}: rainfall by month")
        colour = (i % 256, i // 256 % 256, 7)
        Image.new("RGB", (64, 48), colour).save(root / "img" / f"i{i}.png", pnginfo=info)
        (root / f"p{i}.html").write_text(
            f'<html lang="en"><body><p>{"Some text. " * 40}</p>'
            f'<img src="img/i{i}.png" width="64" height="48"></body></html>\n'
        )
    return root


def scenario_e(sizes: list[int]) -> list[dict[str, Any]]:
    """Cold ``fix`` (offline backend, empty cache) of sites of distinct images: peak RSS
    of the main process and of the largest worker as the site grows."""
    rows = []
    for pages in sizes:
        site = distinct_site(pages)
        cache = WORK / "e-cache"
        shutil.rmtree(cache, ignore_errors=True)
        copy = fresh(site, "e-fix")
        cmd = [sys.executable, "-m", "alttext", "fix", str(copy), "-q", "--no-remote"]
        result = timed([*cmd, "--cache-dir", str(cache), "--site-root", str(copy)])
        shutil.rmtree(copy)
        log(
            f"e {pages}: {result.seconds:.1f}s exit {result.code} peak RSS main"
            f" {result.main_mib:.0f} MiB, worker {result.worker_mib:.0f} MiB"
        )
        rows.append(
            {
                "pages": pages,
                "distinct_images": pages,
                "seconds": result.seconds,
                "peak_rss_main_mib": round(result.main_mib, 1),
                "peak_rss_worker_mib": round(result.worker_mib, 1),
                "exit": result.code,
            }
        )
    return rows


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--only", default="a,b,c,d,e")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--place",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="(c) also run the warm-run rows in DIR, labelled NAME (another filesystem)",
    )
    args = parser.parse_args()
    more_places = []
    for place in args.place:
        name, _, folder = place.partition("=")
        if not name or not folder:
            parser.error(f"--place wants NAME=DIR, not {place!r}")
        if not Path(folder).is_dir():  # not made here: it is meant to be another mount
            parser.error(f"--place {name}: no such folder {folder!r}")
        more_places.append((name, Path(folder)))
    byte_compile_package()
    WORK.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "filesystems": {
                "disk": filesystem_of(WORK),
                **{name: filesystem_of(folder) for name, folder in more_places},
            },
        }
    }
    if "a" in only:
        results["a"] = scenario_a(args.runs, args.latency)
    if "b" in only:
        results["b"] = scenario_b(args.latency)
    if "c" in only:
        results["c"] = scenario_c(args.runs, sizes[0], more_places)
    if "d" in only:
        results["d"] = scenario_d(sizes)
    if "e" in only:
        results["e"] = scenario_e(sizes)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
