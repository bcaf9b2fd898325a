"""Worker processes for ``check`` and ``fix``: the same results as one process, same order."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURE_SITE

from alttext.cli import main
from alttext.config import Config
from alttext.errors import ConfigError, ScanError
from alttext.pipeline.check import (
    PageAudit,
    audit_pages,
    default_workers,
    local_size_probe,
    run_check,
)
from alttext.rules.checks import SizeProbe
from alttext.scan.scanner import PageScan

COPIES = 10  # the fixture site has 8 pages: 80 pages is enough to start workers


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workers") / "site"
    for copy in range(COPIES):
        shutil.copytree(FIXTURE_SITE, root / f"copy{copy:02d}")
    (root / "copy05" / "broken.html").write_bytes(b'<meta charset="x-no-such-codec"><img src=a>')
    return root


class PidRecorder:
    """A probe factory (picklable) that notes which process built it."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __call__(self, site_root: Path) -> SizeProbe:
        with (self.out / f"{os.getpid()}-{os.getppid()}.pid").open("w"):
            pass
        return local_size_probe(site_root)


def _pids(out: Path) -> set[int]:
    return {int(p.stem.split("-")[0]) for p in out.glob("*.pid")}


def _parents(out: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in out.glob("*.pid")}


class DiesInWorker:
    """A probe factory that kills any process but the test's own (a worker that dies)."""

    def __init__(self, parent: int) -> None:
        self.parent = parent

    def __call__(self, site_root: Path) -> SizeProbe:
        if os.getpid() != self.parent:
            os._exit(3)
        return local_size_probe(site_root)


def test_workers_give_the_same_report_in_the_same_order(big_site: Path, tmp_path: Path) -> None:
    one = run_check([big_site], Config(workers=1))
    pids = tmp_path / "pids"
    pids.mkdir()
    # A thread left behind by another test may end during the run: look before and after.
    alone_before = threading.active_count() == 1
    many = run_check([big_site], Config(workers=2), probe_factory=PidRecorder(pids))
    assert one.files == many.files == COPIES * 8 + 1
    assert one.images == many.images > 0
    assert len(one.findings) == COPIES * 28
    assert one.findings == many.findings
    assert one.errors == many.errors
    assert [e.file for e in many.errors] == ["copy05/broken.html"]
    workers = _pids(pids)
    assert workers and os.getpid() not in workers, "the pages were not scanned in workers"
    if alone_before and threading.active_count() == 1:  # no thread: fork was safe to use
        assert _parents(pids) == {os.getpid()}, "one thread here: workers are forked directly"


def test_cli_json_is_identical_with_and_without_workers(big_site: Path) -> None:
    outputs = []
    for workers in ("1", "2"):
        result = CliRunner().invoke(
            main, ["check", str(big_site), "--format", "json", "--workers", workers]
        )
        assert result.exit_code == 1, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["summary"]["files"] == COPIES * 8 + 1


def test_a_worker_that_dies_is_a_clear_error(big_site: Path) -> None:
    with pytest.raises(ScanError, match=r"worker process died.*--workers 1"):
        run_check([big_site], Config(workers=2), probe_factory=DiesInWorker(os.getpid()))


def test_small_runs_stay_in_process(tmp_path: Path) -> None:
    # Below two chunks of pages a pool costs more than it saves: the factory runs here.
    pids = tmp_path / "pids"
    pids.mkdir()
    report = run_check([FIXTURE_SITE], Config(workers=4), probe_factory=PidRecorder(pids))
    assert report.files == 8
    assert _pids(pids) == {os.getpid()}


def test_workers_setting_is_validated(tmp_path: Path) -> None:
    assert 1 <= default_workers() <= 8
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        Config().merged(workers=0)
    result = CliRunner().invoke(main, ["check", str(FIXTURE_SITE), "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output


def test_with_other_threads_running_workers_are_not_forked(big_site: Path, tmp_path: Path) -> None:
    # A build tool's watcher thread, say: forking now could copy a held lock into a worker.
    stop = threading.Event()
    watcher = threading.Thread(target=stop.wait)
    watcher.start()
    try:
        pids = tmp_path / "pids"
        pids.mkdir()
        many = run_check([big_site], Config(workers=2), probe_factory=PidRecorder(pids))
    finally:
        stop.set()
        watcher.join()
    assert many.findings == run_check([big_site], Config(workers=1)).findings
    assert os.getpid() not in _pids(pids)
    assert os.getpid() not in _parents(pids), "forked from a process with two threads"


def test_fix_with_workers_writes_the_same_bytes_and_report(big_site: Path, tmp_path: Path) -> None:
    from alttext.pipeline.fix import run_fix

    results = []
    for workers in (1, 2):
        site = tmp_path / f"w{workers}"
        shutil.copytree(big_site, site)
        config = Config(workers=workers, cache=False)
        report = run_fix([site], config, env={})
        pages = {p.relative_to(site): p.read_bytes() for p in sorted(site.rglob("*.html"))}
        results.append((report, pages))
    (one, one_pages), (many, many_pages) = results
    assert one.files_changed == many.files_changed > 0
    assert one_pages == many_pages
    assert [(o.image, o.action, o.alt, o.error) for o in one.outcomes] == [
        (o.image, o.action, o.alt, o.error) for o in many.outcomes
    ]
    assert one.findings == many.findings
    # fix reports the same findings as check on the pages it started from.
    assert many.findings == run_check([big_site], Config(workers=2)).findings


def _pages(site: Path) -> dict[Path, bytes]:
    return {p.relative_to(site): p.read_bytes() for p in sorted(site.rglob("*.html"))}


def test_a_warm_fix_settles_pages_in_the_workers_as_one_process_would(
    big_site: Path, tmp_path: Path
) -> None:
    from alttext.pipeline.fix import run_fix

    cache = tmp_path / "cache"
    cold = tmp_path / "cold"
    shutil.copytree(big_site, cold)
    first = run_fix([cold], Config(workers=1, cache_dir=cache), env={})
    assert first.counts["api_calls"] > 0

    results = []
    for workers in (1, 2):
        site = tmp_path / f"warm{workers}"
        shutil.copytree(big_site, site)
        catalog = tmp_path / f"warm{workers}.json"
        config = Config(workers=workers, cache_dir=cache, catalog=catalog)
        report = run_fix([site], config, env={})
        results.append((report, _pages(site), catalog.read_text(encoding="utf-8")))
    (one, one_pages, one_catalog), (many, many_pages, many_catalog) = results
    # The workers answered from the cache and rewrote the pages themselves: the same
    # bytes, counts and catalog (with its "page src" examples) as one process, and as
    # the cold run wrote.
    assert one_pages == many_pages == _pages(cold)
    assert many.counts == one.counts
    # Only the images the backend could not caption are asked again (failures are not
    # cached); every caption it gave came from the cache.
    assert many.counts["cache"] == first.counts["backend"] > 0
    assert many.counts["api_calls"] == first.counts["api_calls"] - first.counts["backend"]
    assert many_catalog == one_catalog and '"examples"' in many_catalog
    assert [(o.image, o.action, o.alt, o.error) for o in one.outcomes] == [
        (o.image, o.action, o.alt, o.error) for o in many.outcomes
    ]
    assert many.files_changed == first.files_changed > 0


class RecordsPages:
    """A ``pick`` (picklable) that notes each page it sees, in any process."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __call__(self, page: PageScan) -> tuple[object, ...]:
        (self.out / page.rel_path.replace("/", "_")).touch()
        return ()


def _recorded_scan(
    tmp_path: Path, copies: int
) -> tuple[list[Path], Path, Generator[PageAudit, None, None]]:
    """Two workers scanning ``copies`` of the fixture site, noting each page they see."""
    site = tmp_path / "site"
    for copy in range(copies):
        shutil.copytree(FIXTURE_SITE, site / f"copy{copy:02d}")
    files = sorted(site.rglob("*.html"))
    seen = tmp_path / "seen"
    seen.mkdir()
    return files, seen, audit_pages(files, Config(workers=2), site, pick=RecordsPages(seen))


class SlowPages:
    """A ``pick`` (picklable) that takes a little while on each page."""

    def __call__(self, page: PageScan) -> tuple[object, ...]:
        time.sleep(0.005)
        return (page.rel_path,)


def _raises(signum: int, frame: object) -> None:
    raise RuntimeError("the parent's handler ran in a worker")


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "handler"),
    [(signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, _raises)],
    ids=["ctrl-c", "sigterm"],
)
def test_workers_leave_a_signal_to_the_process_that_started_them(
    tmp_path: Path, signum: int, handler: Callable[[int, object], None]
) -> None:
    """Ctrl-C and a CI runner's stop signal the whole process group. A worker that took
    the signal would print a traceback, or die, possibly half-way through sending a
    result (the executor's thread would wait for the rest for ever). The workers go on,
    quietly, and the parent (here: not stopped) gets every page."""
    site = tmp_path / "site"
    for copy in range(40):
        shutil.copytree(FIXTURE_SITE, site / f"copy{copy:02d}")
    files = sorted(site.rglob("*.html"))
    # Forked workers inherit this process's handling unless they set their own (even a
    # test process started with SIGINT ignored hands them a live handler here).
    previous = signal.signal(signum, handler)
    try:
        pages = audit_pages(files, Config(workers=2), site, pick=SlowPages())
        got = [next(pages)]
        workers = multiprocessing.active_children()
        assert len(workers) == 2
        for worker in workers:
            assert worker.pid is not None
            os.kill(worker.pid, signum)
        got.extend(pages)
    finally:
        signal.signal(signum, previous)
    assert [page.picked for page in got] == [(page.relative_to(site).as_posix(),) for page in files]
    assert all(page.error is None for page in got)
    assert all(worker.exitcode == 0 for worker in workers)


class InterruptsItsWorkerOnArrival:
    """A ``pick`` that, unpickled in a new (spawned) worker before the worker has set how
    it takes signals, sends that worker a Ctrl-C: the moment a real Ctrl-C can land."""

    def __init__(self) -> None:
        self.parent = os.getpid()

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__dict__.update(state)
        if os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGINT)

    def __call__(self, page: PageScan) -> tuple[object, ...]:
        return (page.rel_path,)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_ctrl_c_while_a_worker_starts_waits_until_it_ignores_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALTTEXT_START_METHOD", "spawn")  # initargs are unpickled there
    site = tmp_path / "site"
    for copy in range(10):
        shutil.copytree(FIXTURE_SITE, site / f"copy{copy:02d}")
    files = sorted(site.rglob("*.html"))
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        pages = list(
            audit_pages(files, Config(workers=2), site, pick=InterruptsItsWorkerOnArrival())
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [page.picked for page in pages] == [
        (page.relative_to(site).as_posix(),) for page in files
    ]
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before  # the mask is back


def test_a_consumer_that_stops_early_does_not_wait_for_the_whole_scan(tmp_path: Path) -> None:
    files, seen, pages = _recorded_scan(tmp_path, 40)  # 320 pages: ten chunks for two workers
    first = next(pages)
    pages.close()  # e.g. fix stopped by an error: pending chunks are cancelled
    assert first.rel_path == "copy00/about/index.html"
    assert 0 < len(list(seen.iterdir())) < len(files)


class HangsOnCopy03:
    """A ``pick`` (picklable) that never finishes a page of ``copy03`` (a stuck worker)."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __call__(self, page: PageScan) -> tuple[object, ...]:
        if page.rel_path.startswith("copy03/"):
            (self.out / f"stuck-{os.getpid()}").touch()
            time.sleep(600)
        return ()


def test_an_early_stop_ends_workers_stuck_in_a_page_without_waiting_for_them(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    for copy in range(40):
        shutil.copytree(FIXTURE_SITE, site / f"copy{copy:02d}")
    files = sorted(site.rglob("*.html"))
    pages = audit_pages(files, Config(workers=2), site, pick=HangsOnCopy03(tmp_path))
    first = next(pages)
    workers = multiprocessing.active_children()
    assert len(workers) == 2
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("stuck-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob("stuck-*")), "no worker reached a copy03 page"
    started = time.monotonic()
    pages.close()  # e.g. fix stopped by Ctrl-C: a waiting shutdown would wait 600 s
    assert time.monotonic() - started < 10
    assert first.rel_path == "copy00/about/index.html"
    assert not any(worker.is_alive() for worker in workers)


def test_a_slow_consumer_holds_a_window_of_chunks_not_the_whole_site(tmp_path: Path) -> None:
    from alttext.pipeline.check import _CHUNK, _CHUNKS_PER_WORKER, _FIRST_CHUNK

    files, seen, pages = _recorded_scan(tmp_path, 60)  # 480 pages: fifteen chunks
    next(pages)
    # The workers would scan the whole site in this time; they stop at the window of
    # chunks in flight (the one being handed over among them) and go on when asked.
    # Each of the two workers' first chunk is a small one.
    window = 2 * _FIRST_CHUNK + (2 * _CHUNKS_PER_WORKER - 2) * _CHUNK
    deadline = time.monotonic() + 5
    while len(list(seen.iterdir())) < window and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert len(list(seen.iterdir())) == window < len(files)
    assert sum(1 for _ in pages) == len(files) - 1


def test_the_main_module_does_not_run_the_cli_when_a_worker_imports_it() -> None:
    # How a spawned worker re-creates its parent's main module: importing must not run it.
    import runpy

    namespace = runpy.run_module("alttext", run_name="__mp_main__")
    assert callable(namespace["main"])


def test_python_dash_m_check_with_spawned_workers(big_site: Path) -> None:
    # The start method of a platform without fork (Windows): workers start from scratch,
    # unpickle the configuration and must give the same report as one process.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "alttext", "check", str(big_site), "--format", "json"],
        env={**os.environ, "ALTTEXT_START_METHOD": "spawn"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    one = CliRunner().invoke(main, ["check", str(big_site), "--format", "json", "--workers", "1"])
    assert done.stdout == one.output


def test_records_that_cross_processes_pickle_to_equal_copies() -> None:
    import pickle

    from alttext.captioners.metadata import EmbeddedAlt
    from alttext.pipeline.check import PageAudit
    from alttext.pipeline.outcomes import ImageAt, ImageOutcome
    from alttext.rules.model import FileError, Finding, Severity

    finding = Finding("a.html", 1, 2, "image-alt", Severity.ERROR, "m", "img", None, "<img>")
    at = ImageAt("a.html", 1, 2, "img", "x.png", "<img src=x.png>", 10, 25)
    records: list[object] = [
        finding,
        FileError("b.html", "cannot read file"),
        EmbeddedAlt("A cat", "xmp", "en"),
        PageAudit(Path("a.html"), "a.html", 3, (finding,), None, ("picked",)),
        at,
        ImageOutcome(at, "filled", alt="A cat", content_hash="ab"),
    ]
    for record in records:
        copy = pickle.loads(pickle.dumps(record))
        assert copy == record and type(copy) is type(record)


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(child) for child in text.split())
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent may reap it


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="Linux only")
def test_workers_end_when_their_run_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    site = tmp_path / "site"
    for n in range(4000):  # enough pages that the workers are still busy at the kill
        (site / f"d{n % 20}").mkdir(parents=True, exist_ok=True)
        (site / f"d{n % 20}" / f"p{n}.html").write_text(f"<p>{n}</p><img src=a{n}.png>" * 20)
    cmd = [sys.executable, "-m", "alttext", "check", str(site), "-q", "--workers", "2"]
    run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
            workers = _children(run.pid)
            time.sleep(0.01)
        assert len(workers) >= 2, "the run ended before its workers were seen"
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 10
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(w) for w in workers)
    finally:
        run.kill()
        run.wait()
