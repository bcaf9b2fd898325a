"""Fetch a remote image without letting a page turn us into a proxy.

A page under our scan may name any URL as an image. Fetching it blindly would let the page
read cloud metadata (169.254.169.254), poke services on the build machine or the LAN, or
stream gigabytes. :func:`fetch` therefore, for every hop of a redirect chain:

- accepts only the policy's schemes (http/https) and strips credentials from the URL;
- resolves the host *once*, refuses the hop when any resolved address is loopback,
  private, link-local, multicast, reserved, unspecified, shared (CGNAT), or a cloud
  metadata address (unless ``allow_private_hosts`` or the host is in ``trusted_hosts``),
  all before a single packet goes to that host;
- **connects to the address it checked**, so a DNS answer that changes between check and
  connect (DNS rebinding) cannot redirect the connection. The request goes to
  ``scheme://<ip>:<port>`` with the original ``Host`` header, and for https the TLS SNI
  name and certificate check use the original host name (urllib3's ``server_hostname``
  and ``assert_hostname`` pool options), so certificates are still verified;
- follows redirects itself (requests' own redirect handling is off), re-checking each
  target, up to ``max_redirects``;
- enforces connect and read timeouts per hop and an overall deadline across the
  connects, the response headers, the hops and the body download: a timer thread cuts
  the connection when the deadline passes (:class:`~alttext.images.transport.Watchdog`),
  so a server that drips its headers or body a byte at a time cannot stretch a fetch;
- refuses a body over ``max_bytes`` by ``Content-Length`` before reading, and by counting
  decoded bytes while streaming;
- sends no cookies, no auth and ignores proxy/netrc environment settings: requests go
  straight through a bare ``HTTPAdapter``, never a ``Session``
  (:mod:`alttext.images.transport`, imported on the first remote fetch).

Refusals by policy raise :class:`~alttext.errors.ImageRefused`; network and HTTP failures
raise :class:`~alttext.errors.ImageFetchError`.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from alttext.errors import ConfigError, FetchTimedOut, ImageFetchError, ImageRefused

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FetchedResource",
    "NetworkPolicy",
    "Resolver",
    "SlowHosts",
    "address_refusal",
    "fetch",
    "system_resolver",
]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024

Resolver = Callable[[str, int], list[str]]
"""Maps (host, port) to IP address strings; injectable so tests need no DNS."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


#: Seconds to establish a connection to an image's host, unless the deadline is shorter.
DEFAULT_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """What remote fetching may do.

    Attributes:
        allow_private_hosts: allow loopback/private/link-local/metadata addresses.
        connect_timeout: seconds to establish each connection.
        read_timeout: seconds to wait for each read from the server.
        deadline: seconds for the whole fetch, redirects and body included.
        max_bytes: the largest body accepted.
        max_redirects: how many redirects are followed.
        allowed_schemes: URL schemes that may be fetched.
        trusted_hosts: ``host`` or ``host:port`` entries exempt from the address check
            (an internal image server you mean to reach); the other limits still apply.
        user_agent: the ``User-Agent`` header.
    """

    allow_private_hosts: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = 15.0
    deadline: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 5
    allowed_schemes: frozenset[str] = field(default=frozenset({"http", "https"}))
    trusted_hosts: frozenset[str] = field(default=frozenset())
    user_agent: str = "alttext/0.1 (image fetch for alt text)"

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "deadline", "max_bytes"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"NetworkPolicy.{name} must be positive")
        if self.max_redirects < 0:
            raise ConfigError("NetworkPolicy.max_redirects must not be negative")

    def trusts(self, host: str, port: int) -> bool:
        """Whether ``host`` (as written in the URL) is exempt from the address check."""
        host = host.lower()
        return host in self.trusted_hosts or f"{host}:{port}" in self.trusted_hosts


class SlowHosts:
    """The hosts a run stops fetching from: each ran out of time ``limit`` times in a row.

    A fetch that times out holds its scan worker for up to the deadline, so a site with
    many images on a host that does not answer (gone, firewalled, hostile) would hold
    the run for that many deadlines. After ``limit`` timeouts in a row from one host
    (``host:port``), its other images fail at once, saying why; any answer from it, even
    an HTTP error, starts its count again. Each process keeps its own count.
    """

    def __init__(self, limit: int = 2) -> None:
        self.limit = limit
        self._timeouts: dict[str, int] = {}

    def check(self, url: str) -> None:
        """Raise if ``url``'s host is one this run no longer fetches from.

        Raises:
            ImageFetchError: it timed out ``limit`` times in a row.
        """
        host = _host_key(url)
        if self._timeouts.get(host, 0) >= self.limit:
            raise ImageFetchError(
                f"not fetched: the last {self.limit} fetches from {host} timed out,"
                f" so this run fetches no more from it: {url}"
            )

    def answered(self, url: str, error: BaseException | None) -> None:
        """Note how a fetch of ``url`` ended (``error``: what it raised, if anything)."""
        host = _host_key(url)
        if isinstance(error, FetchTimedOut):
            self._timeouts[host] = self._timeouts.get(host, 0) + 1
        else:
            self._timeouts.pop(host, None)


def _host_key(url: str) -> str:
    """``host:port`` of an http(s) URL, as it is connected to (the URL itself if malformed)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return url
    return f"{(parts.hostname or '').lower()}:{port}"


@dataclass(frozen=True, slots=True)
class FetchedResource:
    """A fetched body.

    Attributes:
        url: the final URL, after redirects (credentials removed).
        data: the body, decoded from any ``Content-Encoding``.
        content_type: the media type the server declared, lower-cased, without parameters.
    """

    url: str
    data: bytes = field(repr=False)
    content_type: str | None


def address_refusal(address: str) -> str | None:
    """Why an IP address may not be fetched by default; ``None`` when it is public.

    Args:
        address: an IPv4 or IPv6 address (an IPv6 zone suffix is ignored).

    Returns:
        A short reason such as ``"loopback"``, or ``None`` for a global unicast address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that IPv4 host: judge the embedded one.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(str(embedded))
    if ip in _METADATA:
        return "cloud metadata"
    for reason, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return reason
    # Shared (CGNAT 100.64/10), documentation, benchmarking... anything not globally routed.
    return None if ip.is_global else "not globally routable"


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver, in its preferred order, without duplicates.

    Raises:
        ImageFetchError: the name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ImageFetchError(f"cannot resolve host {host!r}: {exc}") from exc
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def fetch(
    url: str,
    policy: NetworkPolicy,
    *,
    resolver: Resolver = system_resolver,
    clock: Callable[[], float] = time.monotonic,
) -> FetchedResource:
    """Download ``url`` under ``policy`` (see the module docstring for the rules).

    Args:
        url: an absolute URL.
        policy: the limits to apply.
        resolver: host name resolution, injectable for tests.
        clock: a monotonic clock in seconds, injectable for tests.

    Returns:
        The final URL, the body and the declared content type.

    Raises:
        ImageRefused: a scheme, address or size the policy does not allow.
        ImageFetchError: DNS, connection, timeout, HTTP status, redirect loop, non-image type.
    """
    # requests is imported here, on the first remote fetch, not with this module.
    from alttext.images.transport import Watchdog

    # The clock bounds each connect and read; the watchdog cuts what the clock cannot see,
    # a server trickling its headers or body a byte at a time (see Watchdog).
    with Watchdog(policy.deadline) as watchdog:
        try:
            fetched = _fetch(url, policy, resolver, clock)
        except ImageFetchError as exc:
            if watchdog.stop():
                raise FetchTimedOut(
                    f"deadline of {policy.deadline:g} s exceeded for {url}"
                ) from exc
            raise
        if watchdog.stop():  # cut short, the body may be truncated
            raise FetchTimedOut(f"deadline of {policy.deadline:g} s exceeded for {url}")
    return fetched


def _fetch(
    url: str, policy: NetworkPolicy, resolver: Resolver, clock: Callable[[], float]
) -> FetchedResource:
    deadline = clock() + policy.deadline
    current = _clean_url(url, policy)
    for _hop in range(policy.max_redirects + 1):
        with _request(current, policy, resolver, deadline, clock) as response:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise ImageFetchError(
                        f"HTTP {response.status_code} without Location: {current}"
                    )
                current = _clean_url(urljoin(current, location), policy)
                continue
            from alttext.images.transport import read_body

            data, content_type = read_body(
                current,
                response,
                policy.max_bytes,
                lambda: clock() > deadline,
                policy.deadline,
            )
            return FetchedResource(url=current, data=data, content_type=content_type or None)
    raise ImageFetchError(f"too many redirects (more than {policy.max_redirects}) from {url}")


def _clean_url(url: str, policy: NetworkPolicy) -> str:
    """Check the scheme and drop credentials and fragment, so neither is ever sent."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - property access validates the port
    except ValueError as exc:
        raise ImageFetchError(f"malformed URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in policy.allowed_schemes:
        raise ImageRefused(f"URL scheme {scheme or '(none)'!r} is not allowed: {url[:200]}")
    if not parts.hostname:
        raise ImageFetchError(f"URL has no host: {url[:200]}")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


@contextmanager
def _request(
    url: str,
    policy: NetworkPolicy,
    resolver: Resolver,
    deadline: float,
    clock: Callable[[], float],
) -> Iterator[requests.Response]:
    """Send one GET to a checked address of ``url``'s host; yield the unread response."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _checked_addresses(host, port, policy, resolver)
    try:
        ascii_host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError as exc:
        raise ImageFetchError(f"invalid host name {host!r}") from exc
    host_header = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if parts.port is not None:
        host_header = f"{host_header}:{port}"
    headers = {
        "Host": host_header,
        "User-Agent": policy.user_agent,
        "Accept": "image/avif,image/webp,image/*,*/*;q=0.5",
        "Accept-Encoding": "identity",
    }
    # requests is imported here, on the first remote fetch, not with this module.
    from alttext.images.transport import PinnedAdapter, send

    def timeouts() -> tuple[float, float]:
        return (
            _remaining(policy.connect_timeout, deadline, clock, url),
            _remaining(policy.read_timeout, deadline, clock, url),
        )

    with closing(PinnedAdapter(ascii_host)) as adapter:
        response = send(adapter, url, parts, port, addresses, headers, timeouts)
        with response:
            yield response


def _checked_addresses(
    host: str, port: int, policy: NetworkPolicy, resolver: Resolver
) -> list[str]:
    """Resolve ``host`` and refuse it unless every address is allowed."""
    addresses = [host] if _is_ip(host) else resolver(host, port)
    if not addresses:
        raise ImageFetchError(f"host {host!r} resolves to no address")
    if policy.allow_private_hosts or policy.trusts(host, port):
        return addresses
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            # One bad address refuses the host: a name that mixes public and private
            # answers is what a rebinding attack looks like.
            raise ImageRefused(
                f"refusing {reason} address {address} for host {host!r}"
                " (use --allow-private-hosts to permit)"
            )
    return addresses


def _remaining(timeout: float, deadline: float, clock: Callable[[], float], url: str) -> float:
    """``timeout`` shortened to what is left of the deadline."""
    left = deadline - clock()
    if left <= 0:
        raise FetchTimedOut(f"deadline exceeded before fetching {url}")
    return min(timeout, left)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
