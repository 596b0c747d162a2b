"""One webhook POST, sent with urllib3: to an address the caller checked, or through the egress
proxy the environment names (HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY), within one deadline.

Directly, the connection goes to a checked address while the Host header, TLS SNI and the
certificate check stay the URL's name. Through a proxy, the proxy resolves the name again: the
caller's check of the name's addresses still runs first, but what the proxy then reaches is the
proxy's to restrict. Either way the whole attempt (connect, TLS, tunnel, send, status and
headers) ends within its deadline, and the answer's body is never read.
"""

import contextlib
import contextvars
import functools
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import unquote

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import make_headers, parse_url
from urllib3.util.ssl_ import create_urllib3_context
from urllib3.util.ssl_match_hostname import CertificateError


@dataclass(frozen=True)
class Destination:
    """A webhook URL read once, the way urllib3 (and so requests) reads it."""

    scheme: str
    host: str  # a name, or an address without its brackets
    port: int
    host_header: str  # host[:port] exactly as the URL writes it
    request_target: str  # path and query

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.request_target}"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    content_length: str


class DeliveryFailed(Exception):
    """An attempt that got no answer: tried again later. Its message says why, in our words."""


@dataclass(frozen=True)
class Proxy:
    url: str  # scheme://host:port, without credentials
    headers: dict  # Proxy-Authorization, when the proxy URL carried user:password@
    where: str  # host:port, for messages


def proxy_for(*, destination: Destination) -> Proxy | None:
    """The egress proxy for the destination, read from the environment as urllib and requests
    read it (https_proxy / HTTPS_PROXY for https://, http_proxy / HTTP_PROXY for http://), or
    None when there is none or NO_PROXY names the host."""
    configured = urllib.request.getproxies().get(destination.scheme, "")
    if not configured or urllib.request.proxy_bypass(destination.host_header):
        return None
    if _in_no_proxy_network(destination.host):
        return None
    if "://" not in configured:
        configured = f"http://{configured}"  # as requests reads "proxy:3128"
    try:
        parts = parse_url(configured)
    except LocationParseError:
        raise DeliveryFailed(
            f"ProxyError: the {destination.scheme} proxy URL cannot be read"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise DeliveryFailed(
            f"ProxyError: the {destination.scheme} proxy must be an http:// or https:// URL"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        headers = make_headers(proxy_basic_auth=unquote(parts.auth)) if parts.auth else {}
    except UnicodeError as exc:  # Basic credentials go as latin-1: never quoted back
        raise DeliveryFailed(
            f"ProxyError: the {parts.host} proxy's credentials cannot be sent (Basic credentials "
            "must be latin-1 text)"
        ) from exc
    return Proxy(
        f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", headers, f"{parts.host}:{port}"
    )


def _in_no_proxy_network(host: str) -> bool:
    """Whether the host is an address inside a network NO_PROXY lists (`10.0.0.0/8`), as
    requests and curl read it: urllib's own reading knows names and suffixes, not networks.
    A name is not resolved for this: NO_PROXY networks match addresses written in the URL."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    listed = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    for entry in (item.strip() for item in listed.split(",")):
        if "/" not in entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue  # a malformed entry names nothing, as for requests
        if address.version == network.version and address in network:
            return True
    return False


# --- Whom the receiver's certificate may come from ----------------------------------------------


@functools.lru_cache(maxsize=4)
def trust_store(*, extra_bundle: str) -> ssl.SSLContext:
    """The certificate authorities a receiver's (and an https proxy's) certificate is checked
    against: certifi's bundle, plus the PEM certificates in `extra_bundle` when one is named
    (WEBHOOK_CA_BUNDLE: a corporate CA, for receivers inside the network or a proxy that
    inspects TLS). Built once per bundle; raises DeliveryFailed when the bundle cannot be read."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    # urllib3 matches the name itself (assert_hostname: the URL's name, not the address
    # connected to), and would switch this off on the shared context at each connection.
    context.check_hostname = False
    context.load_verify_locations(cafile=certifi.where())
    if extra_bundle:
        try:
            context.load_verify_locations(cafile=extra_bundle)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "not PEM"
            raise DeliveryFailed(
                f"SSLError: WEBHOOK_CA_BUNDLE ({extra_bundle}) cannot be read: {reason}"
            ) from exc
    return context


# --- The deadline -------------------------------------------------------------------------------

_deadline: contextvars.ContextVar["_Deadline | None"] = contextvars.ContextVar(
    "webhook_deadline", default=None
)


class _Deadline:
    """Shuts the attempt's sockets when its time is up. urllib3's timeouts bound each socket
    operation, so a receiver answering a byte at a time would never trip them; this bounds the
    whole attempt. It holds a duplicate of each socket (shutting one down ends the connection
    for both, however urllib3 wraps the original in TLS)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return max(self.ends - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(twin := sock.dup())
            if self.passed:
                _shut(twin)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets = []


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """A urllib3 connection whose socket the attempt's deadline can shut, from the moment it
    is connected (before TLS, before a proxy's tunnel)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        if (deadline := _deadline.get()) is not None:
            deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# --- Sending ------------------------------------------------------------------------------------


def post(
    *,
    destination: Destination,
    addresses: list[str],
    body: bytes,
    headers: dict[str, str],
    trust: ssl.SSLContext,
    seconds: float,
) -> Answer:
    """POST the body and read the answer's status line and headers, all within ``seconds``:
    directly to the first of the checked ``addresses`` that takes the connection, or through
    the environment's proxy. The answer's body is never read. Raises DeliveryFailed."""
    proxy = proxy_for(destination=destination)
    deadline = _Deadline(seconds)
    token = _deadline.set(deadline)
    try:
        if proxy is not None:
            return _through_proxy(destination, proxy, body, headers, trust, deadline)
        return _direct(destination, addresses, body, headers, trust, deadline)
    except (HTTPError, OSError, HTTPException) as exc:
        raise _failure(exc, destination, proxy, deadline) from exc
    finally:
        _deadline.reset(token)
        deadline.close()


def _options(destination: Destination, body: bytes, headers: dict, deadline: _Deadline) -> dict:
    """urlopen's arguments: one try, no redirect, the answer's body not read, the time left."""
    return {
        "body": body,
        "headers": {**headers, "Host": destination.host_header, "Connection": "close"},
        "retries": False,
        "redirect": False,
        "preload_content": False,
        "timeout": urllib3.Timeout(connect=deadline.left(), read=deadline.left()),
    }


def _answer(response: urllib3.BaseHTTPResponse) -> Answer:
    """The status and headers; the body is left unread and the connection closed."""
    try:
        return Answer(
            status=response.status,
            content_type=response.headers.get("Content-Type", ""),
            content_length=response.headers.get("Content-Length", ""),
        )
    finally:
        response.close()


def _direct(
    destination: Destination,
    addresses: list[str],
    body: bytes,
    headers: dict,
    trust: ssl.SSLContext,
    deadline: _Deadline,
) -> Answer:
    failure: Exception | None = None
    for address in addresses:
        # IPv6 in brackets: bare, urllib3 refuses one with a %scope as a host.
        host = f"[{address}]" if ":" in address else address
        if destination.scheme == "https":
            pool: urllib3.HTTPConnectionPool = _HTTPSPool(
                host,
                destination.port,
                server_hostname=destination.host,
                assert_hostname=destination.host,
                cert_reqs="CERT_REQUIRED",
                ssl_context=trust,
            )
        else:
            pool = _HTTPPool(host, destination.port)
        try:
            options = _options(destination, body, headers, deadline)
            return _answer(pool.urlopen("POST", destination.request_target, **options))
        except ConnectTimeoutError as exc:
            # Not connected (NewConnectionError is one too): the next address, if time is left.
            if deadline.passed:
                raise
            failure = exc
        finally:
            pool.close()
    raise failure or DeliveryFailed(f"DNS: {destination.host} has no address to connect to")


def _through_proxy(
    destination: Destination,
    proxy: Proxy,
    body: bytes,
    headers: dict,
    trust: ssl.SSLContext,
    deadline: _Deadline,
) -> Answer:
    """Through the proxy: a CONNECT tunnel for https (TLS, SNI and the certificate check are the
    name's, end to end), the absolute URL for http."""
    manager = urllib3.ProxyManager(
        proxy.url,  # http:// or https:// (proxy_for)
        num_pools=1,
        proxy_headers=proxy.headers,
        cert_reqs="CERT_REQUIRED",
        ssl_context=trust,
        proxy_ssl_context=trust,  # an https:// proxy's own certificate
        assert_hostname=destination.host,
    )
    # Its pools, and so its connections, are the deadline's (PoolManager lets a manager set them).
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    try:
        options = _options(destination, body, headers, deadline)
        return _answer(manager.urlopen("POST", destination.url, **options))
    finally:
        manager.clear()


# --- What went wrong, in our words --------------------------------------------------------------

_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\b")


def _failure(
    exc: BaseException, destination: Destination, proxy: Proxy | None, deadline: _Deadline
) -> DeliveryFailed:
    """Never the exception's own text where it may quote what the receiver (or the proxy)
    sent: the system's words for what failed, and ours."""
    if deadline.passed:
        return DeliveryFailed(f"Timeout: no answer within {deadline.seconds} s")
    if proxy is not None and (refused := _TUNNEL_REFUSED.search(str(_cause(exc)))):
        # The proxy answered CONNECT with an error: its status, not its words.
        where = f"{destination.host}:{destination.port}"
        return DeliveryFailed(
            f"ProxyError: {proxy.where}: no tunnel to {where} (CONNECT answered {refused[1]})"
        )
    if isinstance(exc, ProxyError):
        return DeliveryFailed(
            f"ProxyError: {proxy.where if proxy else 'proxy'}: {_proxy_reason(exc)}"
        )
    cause = _cause(exc)
    if isinstance(exc, SSLError):
        return DeliveryFailed(f"SSLError: {_reason(cause, destination)}")
    if isinstance(exc, NewConnectionError):
        where = f"{destination.host}:{destination.port}"
        return DeliveryFailed(f"ConnectionError: {where}: {_reason(cause, destination)}")
    if isinstance(exc, Urllib3Timeout | TimeoutError):
        return DeliveryFailed(f"Timeout: no answer within {deadline.seconds} s")
    if isinstance(cause, HTTPException):
        what = type(cause).__name__
        return DeliveryFailed(f"ProtocolError: not an HTTP answer ({what})")
    where = f"{destination.host}:{destination.port}"
    return DeliveryFailed(f"ConnectionError: {where}: {_reason(cause, destination)}")


def _cause(exc: BaseException) -> BaseException:
    """The error under urllib3's wrapping (SSLError(e), ProtocolError(text, e), a connection
    error raised from an OSError)."""
    if isinstance(exc, ProxyError):
        return exc.original_error
    if isinstance(exc, ProtocolError | SSLError):
        inner = [arg for arg in exc.args if isinstance(arg, BaseException)]
        if inner:
            return inner[-1]
    return exc.__cause__ or exc


def _proxy_reason(exc: ProxyError) -> str:
    inner = exc.original_error
    if isinstance(inner, NewConnectionError):
        return _reason(inner.__cause__ or inner, None)
    if isinstance(inner, Urllib3Timeout | TimeoutError):
        return "timed out"
    if isinstance(inner, SSLError):
        return f"SSLError: {_reason(_cause(inner), None)}"
    return _reason(inner, None)


def _reason(exc: BaseException, destination: Destination | None) -> str:
    if isinstance(exc, CertificateError) and destination is not None:
        # urllib3's own check of the name (assert_hostname): its text names the certificate's
        # names, which the receiver chose; these words are OpenSSL's for the same failure.
        return f"Hostname mismatch, certificate is not valid for '{destination.host}'."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return getattr(exc, "verify_message", "") or "certificate verify failed"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
