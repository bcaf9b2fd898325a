"""An interrupted ``alttext fix`` leaves pages whole, and the re-run pays for nothing twice.

A real ``python -m alttext fix`` process talks to the stateful loopback WaveSpeed server
and is killed (SIGKILL) while tasks are in flight; the re-run finishes the job. Images are
identified on the server by the sha256 of the bytes uploaded for them.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image
from servers import FakeClock
from servers.wavespeed import API_KEY, Plan, WaveSpeedServer

from alttext.captioners.wavespeed import WaveSpeedCaptioner
from alttext.config import Config
from alttext.pipeline.describe import Describer
from alttext.pipeline.fix import run_fix
from alttext.store.cache import CaptionCache

COLOURS = ["red", "green", "blue", "orange", "purple", "teal", "olive", "maroon"]
PAGES = 12
#: The checkout under test: ``python -m alttext`` run from here imports this tree.
REPO = Path(__file__).resolve().parent.parent
#: What ``fix`` may insert into a start tag, and nothing else.
INSERTED_ALT = re.compile(rb'\s?alt="[^"]*"\s?')


@pytest.fixture
def server() -> Iterator[WaveSpeedServer]:
    with WaveSpeedServer() as srv:
        yield srv


def make_site(root: Path) -> dict[Path, bytes]:
    """12 XHTML-well-formed pages using 8 distinct PNGs; returns every page's bytes."""
    for index, colour in enumerate(COLOURS):
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48 + index, 32), colour).save(root / "img" / f"{colour}.png")
    for page in range(PAGES):
        folder, up = (root / "sub", "../") if page % 3 == 0 else (root, "")
        first, second = COLOURS[page % 8], COLOURS[(page * 3 + 1) % 8]
        html = (
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8" /><title>Page {page}</title></head>\n'
            f"<body><h1>Page {page}</h1>\n"
            f'<p><img src="{up}img/{first}.png" width="48" height="32" /></p>\n'
            f'<figure><img src="{up}img/{second}.png" /><figcaption>Fig.</figcaption></figure>\n'
            f'<p><img src="{up}img/red.png" alt="A person wrote this" /></p>\n'
            f'<p><img src="{up}img/blue.png" alt="" /></p>\n'
            "</body></html>\n"
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"page{page}.html").write_text(html, encoding="utf-8")
    return {p: p.read_bytes() for p in sorted(root.rglob("*.html"))}


def assert_whole(path: Path, before: bytes) -> bool:
    """The page is byte-identical, or well-formed with only alt attributes inserted.

    Returns whether it was rewritten.
    """
    after = path.read_bytes()
    if after == before:
        return False
    etree.fromstring(after)  # still well-formed: a half-written page would not be
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        assert op in ("equal", "insert"), (path, op, before[i1:i2], after[j1:j2])
        if op == "insert":
            assert INSERTED_ALT.fullmatch(after[j1:j2]), (path, after[j1:j2])
    return True


def images_without_alt(path: Path) -> list[str | None]:
    tree = etree.fromstring(path.read_bytes())
    return [img.get("src") for img in tree.iter("img") if img.get("alt") is None]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".alttext-tmp")]


def submits_per_image(server: WaveSpeedServer) -> Counter[str]:
    """How many tasks were submitted for each image, by the sha256 of its uploaded bytes."""
    by_url = {
        f"{server.url}/files/{u.token}/{u.filename}": hashlib.sha256(u.data).hexdigest()
        for u in list(server.uploads.values())
        if u.data is not None
    }
    return Counter(by_url[r.json()["image"]] for r in server.requests("submit"))


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait for an event (not for a time): fails only if the process ends or hangs."""
    give_up = time.monotonic() + 60
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"fix ended ({proc.returncode}) before {what}: {err.decode()[-2000:]}")
        if time.monotonic() > give_up:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


def fix_command(site: Path, server: WaveSpeedServer, cache: Path) -> list[str]:
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
        "--jobs",
        "4",
        "--cache-dir",
        str(cache),
        "-q",
    ]


def fix_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["WAVESPEED_API_KEY"] = API_KEY
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_mid_run_leaves_pages_whole_and_the_rerun_pays_nothing_twice(
    tmp_path: Path, server: WaveSpeedServer
) -> None:
    site = tmp_path / "site"
    originals = make_site(site)
    cache = tmp_path / "cache"
    # The first two tasks finish at their first poll; the rest stay "processing" until the
    # kill, so the process dies with four paid tasks in flight.
    server.plans.extend([Plan(polls_to_finish=1), Plan(polls_to_finish=1)])
    server.default_plan = Plan(outcome="never")

    def completed() -> int:
        return sum(t.status == "completed" for t in list(server.tasks.values()))

    proc = subprocess.Popen(
        fix_command(site, server, cache),
        env=fix_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        wait_for(
            lambda: completed() >= 2 and len(server.requests("submit")) >= 6,
            proc,
            "two completed tasks and four more in flight",
        )
        # Every in-flight task has been polled at least once: its id was journaled.
        wait_for(
            lambda: all(t.polls > 0 for t in list(server.tasks.values())),
            proc,
            "a poll of every task",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert 0 < completed() < len(COLOURS)
    for path, before in originals.items():
        assert_whole(path, before)
    assert temp_files(site) == []

    # The service keeps working on the abandoned tasks; they finish on the next poll.
    for task in list(server.tasks.values()):
        if task.plan.outcome == "never":
            task.plan = Plan(polls_to_finish=task.polls + 1)
    server.default_plan = Plan(polls_to_finish=2)
    rerun = subprocess.run(
        fix_command(site, server, cache), env=fix_env(), capture_output=True, timeout=90, cwd=REPO
    )

    assert rerun.returncode == 0, rerun.stderr.decode()
    assert all(assert_whole(path, before) for path, before in originals.items())
    assert all(images_without_alt(path) == [] for path in originals)
    assert temp_files(site) == []
    per_image = submits_per_image(server)
    assert len(per_image) == len(COLOURS)
    assert set(per_image.values()) == {1}, per_image


def test_keyboard_interrupt_in_process_leaves_every_file_untouched_or_complete(
    tmp_path: Path, server: WaveSpeedServer
) -> None:
    site = tmp_path / "site"
    originals = make_site(site)
    images = {p: p.read_bytes() for p in (site / "img").iterdir()}
    clock = FakeClock()
    calls = 0

    def interrupting_sleep(seconds: float) -> None:
        # Ctrl-C arrives while a task waits for its third poll, after others finished.
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt
        clock.sleep(seconds)

    config = Config(backend="wavespeed", rate=0, jobs=4, cache_dir=tmp_path / "cache")

    def describer(sleep: Callable[[float], None], cache: CaptionCache) -> Describer:
        backend = WaveSpeedCaptioner(
            API_KEY,
            base_url=server.url,
            max_concurrent=4,
            per_minute=None,
            clock=clock,
            sleep=sleep,
            wall_clock=clock.wall,
            journal=cache,
        )
        return Describer(config, backend, cache)

    with CaptionCache(tmp_path / "cache") as cache, pytest.raises(KeyboardInterrupt):
        run_fix([site], config, env={}, describer=describer(interrupting_sleep, cache))

    assert calls >= 6
    # A page whose captions all arrived before the interrupt may already be complete
    # (which ones depends on thread timing); every other page is untouched.
    completed = {path for path, before in originals.items() if assert_whole(path, before)}
    assert len(completed) < PAGES
    assert all(images_without_alt(path) == [] for path in completed)
    assert {p: p.read_bytes() for p in images} == images
    assert temp_files(site) == []
    assert 0 < len(server.tasks) < len(COLOURS) + 1

    with CaptionCache(tmp_path / "cache") as cache:
        report = run_fix([site], config, env={}, describer=describer(clock.sleep, cache))
    assert report.ok and report.files_changed == PAGES - len(completed)
    assert all(images_without_alt(path) == [] for path in originals)
    assert set(submits_per_image(server).values()) == {1}
    assert len(submits_per_image(server)) == len(COLOURS)


#: Stages new content for the pages named on the command line with the real staging code,
#: then dies (SIGKILL) before committing: what a kill during a commit leaves behind. With
#: ``--wait`` it prints the temporary files' names and stays alive instead.
_STAGE_AND_DIE = """
import os, signal, sys, time
from pathlib import Path
from alttext.durable import stage
wait = sys.argv[1] == "--wait"
for name in sys.argv[2:]:
    print(stage(Path(name), Path(name).read_bytes() + b"<!-- half done -->").tmp, flush=True)
if wait:
    time.sleep(120)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_rerun_removes_temporary_files_a_kill_during_a_commit_left(
    tmp_path: Path, server: WaveSpeedServer
) -> None:
    site = tmp_path / "site"
    originals = make_site(site)
    pages = sorted(originals)
    killed = subprocess.run(
        [sys.executable, "-c", _STAGE_AND_DIE, "--die", *map(str, pages[:3])],
        capture_output=True,
        cwd=REPO,
    )
    assert killed.returncode == -signal.SIGKILL
    left = sorted(temp_files(site))
    assert len(left) == 3 and all(f".{os.getpid()}-" not in p.name for p in left)
    # Another run still going (alive, its own temporary file staged): not ours to remove.
    live = subprocess.Popen(
        [sys.executable, "-c", _STAGE_AND_DIE, "--wait", str(pages[3])],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert live.stdout is not None
        theirs = Path(live.stdout.readline().decode().strip())
        assert theirs.is_file()
        # A user's file that merely ends like ours, without a process id, is kept too.
        (site / ".notes.alttext-tmp").write_text("mine")

        rerun = subprocess.run(
            fix_command(site, server, tmp_path / "cache"),
            env=fix_env(),
            capture_output=True,
            timeout=90,
            cwd=REPO,
        )

        assert rerun.returncode == 0, rerun.stderr.decode()
        assert "removed 3 temporary files left by an interrupted run" in rerun.stderr.decode()
        assert sorted(temp_files(site)) == sorted([theirs, site / ".notes.alttext-tmp"])
        assert all(assert_whole(path, before) for path, before in originals.items())
        assert all(images_without_alt(path) == [] for path in originals)
    finally:
        live.kill()
        live.communicate()


#: Enough pages for scan workers (and more than their window of chunks in flight).
BIG = 320
#: The first page whose image no earlier page has (a backend image): from the fifth,
#: with one caption thread, the run waits for a slot while its scan workers wait too.
NEW_IMAGES_FROM = 100


def make_big_site(root: Path) -> dict[Path, bytes]:
    """320 XHTML pages of one image each: red or green but for 6 pages from page 100."""
    (root / "img").mkdir(parents=True)
    for index, colour in enumerate(COLOURS):
        Image.new("RGB", (48 + index, 32), colour).save(root / "img" / f"{colour}.png")
    folder = root / "pages"
    folder.mkdir()
    for page in range(BIG):
        colour = COLOURS[page % 2]
        if 0 <= page - NEW_IMAGES_FROM < len(COLOURS) - 2:
            colour = COLOURS[2 + page - NEW_IMAGES_FROM]
        (folder / f"page{page:03d}.html").write_text(
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8" /><title>Page {page}</title></head>\n'
            f'<body><h1>Page {page}</h1><p><img src="../img/{colour}.png" /></p></body></html>\n',
            encoding="utf-8",
        )
    return {p: p.read_bytes() for p in sorted(root.rglob("*.html"))}


@pytest.fixture(autouse=True)
def _children_get_sigint() -> Iterator[None]:
    """The runs started here react to SIGINT (what they are tested for) even when this
    process was started with it ignored, as a shell starts a background job: an ignored
    signal stays ignored across exec, a handled one is reset to its default."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def descendants(pid: int) -> set[int]:
    """The processes ``pid`` started, and theirs (scan workers, a fork server)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "stat").read_bytes()
            except OSError:
                continue  # ended meanwhile
            parents[int(entry.name)] = int(line[line.rfind(b")") + 1 :].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        line = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return line[line.rfind(b")") + 1 :].split()[0] not in (b"Z", b"X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("to", ["process", "group"])
def test_a_signal_mid_run_cleans_up_says_so_and_exits_128_plus_signo(
    tmp_path: Path, server: WaveSpeedServer, signum: int, code: int, to: str
) -> None:
    """``kill`` (the process), or Ctrl-C and a CI runner's stop (its process group)."""
    site = tmp_path / "site"
    originals = make_big_site(site)
    cache = tmp_path / "cache"
    # Red and green are captioned already (a run over two pages): scan workers settle
    # and write the pages that have them. The other six go to the backend.
    warm = tmp_path / "warm"
    (warm / "pages").mkdir(parents=True)
    for page in sorted(originals)[:2]:
        shutil.copy(page, warm / "pages" / page.name)
    shutil.copytree(site / "img", warm / "img")
    warmed = subprocess.run(
        fix_command(warm, server, cache), env=fix_env(), capture_output=True, timeout=90, cwd=REPO
    )
    assert warmed.returncode == 0, warmed.stderr.decode()
    # Each task takes six polls (seconds): four fill the slots of the one caption
    # thread, and the fifth new image waits, with the scan workers, until the signal.
    server.default_plan = Plan(polls_to_finish=6)
    command = [*fix_command(site, server, cache), "--jobs", "1", "--workers", "2"]
    proc = subprocess.Popen(
        command,
        env=fix_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        start_new_session=True,
    )
    first = sorted(originals)[0]
    try:
        wait_for(
            lambda: (
                any(t.polls > 0 for t in list(server.tasks.values()))
                and first.read_bytes() != originals[first]
            ),
            proc,
            "a page replaced and a task polled",
        )
        workers = descendants(proc.pid)
        assert len(workers) >= 2, workers
        if to == "group":
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == code, err.decode()
    assert err.decode().splitlines()[-1] == (
        "interrupted: pages already replaced are complete, the others are unchanged; "
        "run the same command again to finish"
    )
    assert "Traceback" not in err.decode() and "Aborted!" not in err.decode()
    assert not any(running(pid) for pid in workers)
    assert temp_files(site) == []
    replaced = {path for path, before in originals.items() if assert_whole(path, before)}
    assert first in replaced and len(replaced) < BIG
    assert all(images_without_alt(path) == [] for path in replaced)

    for task in list(server.tasks.values()):
        task.plan = Plan(polls_to_finish=task.polls + 1)
    server.default_plan = Plan(polls_to_finish=1)
    rerun = subprocess.run(command, env=fix_env(), capture_output=True, timeout=120, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert all(assert_whole(path, before) for path, before in originals.items())
    assert all(images_without_alt(path) == [] for path in originals)
    assert temp_files(site) == []


def test_an_interrupt_does_not_wait_for_a_task_that_never_ends(
    tmp_path: Path, server: WaveSpeedServer
) -> None:
    # A task stuck at the service: its poll loop would run on to the 300 s deadline. An
    # interrupt ends the wait at once; the task stays journaled, so the re-run takes its
    # result instead of paying for a second one.
    site = tmp_path / "site"
    site.mkdir()
    Image.new("RGB", (64, 48), "orange").save(site / "a.png")
    (site / "index.html").write_text('<html lang="en"><img src="a.png"></html>\n')
    cache = tmp_path / "cache"
    server.default_plan = Plan(outcome="never")
    command = [*fix_command(site, server, cache), "--workers", "1"]
    proc = subprocess.Popen(
        command, env=fix_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    try:
        wait_for(lambda: any(t.polls > 0 for t in list(server.tasks.values())), proc, "a poll")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert took < 10, f"the interrupted run took {took:.1f} s to end"
    [task] = list(server.tasks.values())
    task.plan = Plan(polls_to_finish=task.polls + 1)
    rerun = subprocess.run(command, env=fix_env(), capture_output=True, timeout=60, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert len(server.requests("submit")) == 1  # resumed, not paid for twice
    assert 'alt="' in (site / "index.html").read_text(encoding="utf-8")


def test_an_interrupt_starts_none_of_the_tasks_still_waiting_for_a_slot(
    tmp_path: Path, server: WaveSpeedServer
) -> None:
    # Six images and WaveSpeed's default of two tasks at once: four wait for a slot. An
    # interrupt must not let them start (each start is a paid task).
    site = tmp_path / "site"
    site.mkdir()
    for n in range(6):
        Image.new("RGB", (64, 40 + n), "orange").save(site / f"i{n}.png")
        (site / f"p{n}.html").write_text(f'<html lang="en"><img src="i{n}.png"></html>\n')
    server.default_plan = Plan(outcome="never")
    command = [*fix_command(site, server, tmp_path / "cache"), "--workers", "1"]
    command.remove("--jobs")
    command.remove("4")  # the default: WaveSpeed keeps to its two slots
    proc = subprocess.Popen(
        command, env=fix_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    try:
        wait_for(
            lambda: sum(t.polls > 0 for t in list(server.tasks.values())) >= 2, proc, "2 polls"
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert len(server.requests("submit")) == 2  # the waiting four never started


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
def test_a_cold_run_writes_each_page_as_soon_as_its_captions_are_in(
    tmp_path: Path, server: WaveSpeedServer
) -> None:
    """A long cold run (a slow or rate-limited backend) replaces the pages whose captions
    arrived while it waits for the others: a stop then keeps them."""
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    for colour in ("red", "green"):
        Image.new("RGB", (40, 30), colour).save(site / "img" / f"{colour}.png")
    pages = {}
    for name, colour in (("a", "red"), ("b", "green")):
        page = site / f"{name}.html"
        page.write_text(
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" /></head><body>'
            f'<p><img src="img/{colour}.png" /></p></body></html>\n',
            encoding="utf-8",
        )
        pages[name] = page.read_bytes()
    # One caption at a time: red's task finishes at its first poll, green's never does.
    server.plans.extend([Plan(polls_to_finish=1), Plan(outcome="never")])
    command = [*fix_command(site, server, tmp_path / "cache"), "--jobs", "1"]
    proc = subprocess.Popen(
        command, env=fix_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    try:
        wait_for(lambda: (site / "a.html").read_bytes() != pages["a"], proc, "a.html replaced")
        assert proc.poll() is None  # still waiting for green's caption
        wait_for(
            lambda: any(task.polls > 1 for task in list(server.tasks.values())[1:]),
            proc,
            "green's task polled",
        )
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143
    assert b'alt="A red square on a white background"' in (site / "a.html").read_bytes()
    assert (site / "b.html").read_bytes() == pages["b"]
    assert temp_files(site) == []
