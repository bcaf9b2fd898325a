"""Safe remote fetching against a real loopback HTTP server."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from images_support import ImageServer, png_bytes, serve, trickle

from alttext.errors import ConfigError, FetchTimedOut, ImageFetchError, ImageRefused
from alttext.images.fetch import NetworkPolicy, address_refusal, fetch
from alttext.images.resolve import ResolvedSource, SourceKind, load_image
from alttext.images.transport import PinnedAdapter


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with serve() as state:
        yield state


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any test whose code tries to open a connection off this machine."""
    connected: list[str] = []
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
            raise AssertionError(f"test tried to connect to {host}")
        connected.append(host)
        original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return connected


def _trusting(server: ImageServer, **kwargs: Any) -> NetworkPolicy:
    """A policy under which the loopback server counts as a public host."""
    return NetworkPolicy(trusted_hosts=frozenset({f"127.0.0.1:{server.port}"}), **kwargs)


PRIVATE = NetworkPolicy(allow_private_hosts=True, connect_timeout=2, read_timeout=2)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.1.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_classification(address: str, reason: str | None) -> None:
    assert address_refusal(address) == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/img.png",
        "http://localhost:{port}/img.png",
        "http://[::1]:{port}/img.png",
        "http://10.0.0.1/img.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://2130706433:{port}/img.png",  # 127.0.0.1 as one decimal number
    ],
)
def test_default_policy_refuses_private_hosts_before_connecting(
    server: ImageServer, loopback_only: list[str], url: str
) -> None:
    with pytest.raises(ImageRefused, match="--allow-private-hosts"):
        fetch(url.format(port=server.port), NetworkPolicy())
    assert loopback_only == []
    assert server.seen == []


def test_allow_private_hosts_fetches_loopback(server: ImageServer) -> None:
    fetched = fetch(f"{server.base}/img.png", PRIVATE)
    assert fetched.data == server.image
    assert fetched.content_type == "image/png"
    assert fetched.url == f"{server.base}/img.png"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:1/x.png",
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/img.png",
        "http://localhost:{port}/img.png",
    ],
)
def test_redirect_to_private_host_is_refused_even_after_allowed_hop(
    server: ImageServer, loopback_only: list[str], target: str
) -> None:
    url = f"{server.base}/to?url={quote(target.format(port=server.port), safe='')}"
    with pytest.raises(ImageRefused):
        fetch(url, _trusting(server))
    # The first hop really went out; the redirect target was never contacted.
    assert server.paths() == [url.removeprefix(server.base)]
    assert loopback_only == ["127.0.0.1"]


def test_redirect_to_file_url_is_refused(server: ImageServer) -> None:
    with pytest.raises(ImageRefused, match="scheme 'file'"):
        fetch(f"{server.base}/to?url=file:///etc/passwd", _trusting(server))


def test_redirect_chain_within_limit_is_followed(server: ImageServer) -> None:
    fetched = fetch(f"{server.base}/redirect/3", _trusting(server, max_redirects=3))
    assert fetched.data == server.image
    assert fetched.url == f"{server.base}/redirect/0"


def test_too_many_redirects(server: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="too many redirects"):
        fetch(f"{server.base}/loop", _trusting(server, max_redirects=3))
    assert len(server.seen) == 4


def test_connects_to_the_checked_address_with_original_host_header(server: ImageServer) -> None:
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["127.0.0.1"]

    policy = NetworkPolicy(trusted_hosts=frozenset({"images.test"}))
    fetched = fetch(f"http://images.test:{server.port}/echo", policy, resolver=resolver)
    assert fetched.data == server.image
    assert fetched.url == f"http://images.test:{server.port}/echo"
    # Resolved exactly once: no second lookup that a rebinding DNS could answer differently.
    assert calls == [("images.test", server.port)]
    assert server.seen[0].headers["host"] == f"images.test:{server.port}"


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["93.184.216.34", "10.0.0.7"]])
def test_host_resolving_to_private_address_is_refused(
    loopback_only: list[str], answer: list[str]
) -> None:
    with pytest.raises(ImageRefused, match=r"for host 'cdn\.example'"):
        fetch("http://cdn.example/a.png", NetworkPolicy(), resolver=lambda h, p: answer)
    assert loopback_only == []


def test_no_credentials_or_cookies_are_sent(server: ImageServer) -> None:
    url = f"http://user:hunter2@127.0.0.1:{server.port}/cookie"
    fetched = fetch(url, PRIVATE)
    assert fetched.data == server.image
    assert "hunter2" not in fetched.url
    assert [s.path for s in server.seen] == ["/cookie", "/echo"]
    for seen in server.seen:
        assert "authorization" not in seen.headers
        assert "cookie" not in seen.headers


def test_oversize_by_content_length_is_refused(server: ImageServer) -> None:
    policy = NetworkPolicy(allow_private_hosts=True, max_bytes=1000)
    with pytest.raises(ImageRefused, match="5000 bytes, over the 1000 byte limit"):
        fetch(f"{server.base}/big-declared?n=5000", policy)
    assert fetch(f"{server.base}/big-declared?n=1000", policy).data == b"x" * 1000


def test_oversize_while_streaming_is_refused(server: ImageServer) -> None:
    policy = NetworkPolicy(allow_private_hosts=True, max_bytes=100_000)
    with pytest.raises(ImageRefused, match="exceeds the 100000 byte limit"):
        fetch(f"{server.base}/big-streamed?n=500000", policy)
    assert len(fetch(f"{server.base}/big-streamed?n=1000", policy).data) == 1004


@pytest.mark.parametrize("route", ["/slow-headers", "/slow-body"])
def test_read_timeout(server: ImageServer, route: str) -> None:
    policy = NetworkPolicy(allow_private_hosts=True, connect_timeout=2, read_timeout=0.2)
    with pytest.raises(FetchTimedOut, match="timed out"):
        fetch(server.base + route, policy)


def test_overall_deadline_with_injected_clock(server: ImageServer) -> None:
    ticks = iter(range(0, 1000, 10))
    clock: Callable[[], float] = lambda: float(next(ticks))  # noqa: E731
    policy = NetworkPolicy(allow_private_hosts=True, deadline=25)
    with pytest.raises(FetchTimedOut, match="deadline of 25 s exceeded"):
        fetch(f"{server.base}/img.png", policy, clock=clock)


@pytest.mark.parametrize("mode", ["header-bytes", "headers"])
def test_deadline_covers_response_headers_trickled_in(mode: str) -> None:
    # Each byte restarts the 5 s read timeout: only the overall deadline can end this.
    policy = NetworkPolicy(allow_private_hosts=True, read_timeout=5, deadline=1)
    with trickle(mode) as url:
        started = time.monotonic()
        with pytest.raises(ImageFetchError, match="deadline of 1 s exceeded"):
            fetch(url, policy)
        assert time.monotonic() - started < 5  # the server goes on for 20 s


def _descriptors_connected_to(port: int) -> list[str]:
    """This process's descriptors for TCP connections to ``port`` (the client side).

    Counted by connection, not by descriptor total: other tests' server threads may
    still be closing their sockets meanwhile, which would move a plain count."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:  # the remote address
                    inodes.add(f"socket:[{fields[9]}]")
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") in inodes:
                found.append(fd)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/net/tcp")
def test_deadline_watchdog_leaves_no_descriptor_and_no_late_cut(server: ImageServer) -> None:
    policy = NetworkPolicy(allow_private_hosts=True, deadline=0.5)
    for _ in range(5):
        assert fetch(f"{server.base}/redirect/1", policy).data == server.image
    time.sleep(0.6)  # past the deadline of fetches already finished: nothing to cut
    assert _descriptors_connected_to(server.port) == []


def test_deadline_already_spent_before_a_redirect_hop(server: ImageServer) -> None:
    ticks = iter(range(0, 1000, 10))
    policy = NetworkPolicy(allow_private_hosts=True, deadline=35)
    with pytest.raises(ImageFetchError, match="deadline exceeded before fetching"):
        fetch(f"{server.base}/redirect/2", policy, clock=lambda: float(next(ticks)))
    assert len(server.seen) == 1


def test_non_image_content_type_is_rejected(server: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="not an image: server sent 'text/html'"):
        fetch(f"{server.base}/html", PRIVATE)


@pytest.mark.parametrize("route", ["/octet", "/untyped"])
def test_vague_content_types_are_accepted(server: ImageServer, route: str) -> None:
    assert fetch(server.base + route, PRIVATE).data == server.image


def test_http_error_status(server: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="HTTP 404"):
        fetch(f"{server.base}/missing", PRIVATE)


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ImageFetchError, match="cannot connect") as refused:
        fetch(f"http://127.0.0.1:{port}/x.png", PRIVATE)
    assert not isinstance(refused.value, FetchTimedOut)  # an answer, and a quick one


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "gopher://x/", "//no-scheme/a.png"])
def test_disallowed_schemes_are_refused(url: str) -> None:
    with pytest.raises(ImageRefused, match="scheme"):
        fetch(url, NetworkPolicy())


def test_policy_validation() -> None:
    with pytest.raises(ConfigError):
        NetworkPolicy(max_bytes=0)
    with pytest.raises(ConfigError):
        NetworkPolicy(max_redirects=-1)


def test_remote_decompression_bomb_is_refused(server: ImageServer, tmp_path: Path) -> None:
    url = f"{server.base}/bomb.png"
    source = ResolvedSource(SourceKind.REMOTE, "src", url, url, None, None, tmp_path)
    with pytest.raises(ImageRefused, match="decompression bomb"):
        load_image(source, PRIVATE, allow_remote=True)
    assert server.paths() == ["/bomb.png"]


def test_remote_load_identifies_the_image(server: ImageServer, tmp_path: Path) -> None:
    server.image = png_bytes((30, 20))
    url = f"{server.base}/redirect/1"
    source = ResolvedSource(SourceKind.REMOTE, "src", url, url, None, None, tmp_path)
    image = load_image(source, PRIVATE, allow_remote=True)
    assert (image.mime, image.size, image.origin) == ("image/png", (30, 20), url)
    assert image.public_url == f"{server.base}/redirect/0"


def test_https_hop_keeps_sni_and_certificate_name_of_the_original_host() -> None:
    # No TLS server here: check the pool the pinned request would use (no connection made).
    adapter = PinnedAdapter("images.example")
    request = requests.Request("GET", "https://93.184.216.34:443/x.png").prepare()
    pool = adapter.get_connection_with_tls_context(request, True)
    assert pool.host == "93.184.216.34"
    assert getattr(pool, "conn_kw", {})["server_hostname"] == "images.example"
    assert getattr(pool, "assert_hostname", None) == "images.example"
    adapter.close()
