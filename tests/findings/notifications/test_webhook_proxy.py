"""Webhooks through an egress proxy (HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY): a real forward
and CONNECT proxy on 127.0.0.1 that resolves names itself (from its own table, as a corporate
proxy does with its DNS), in front of receivers on 127.0.0.1. The app still checks the name's
addresses first (a patched getaddrinfo answers them); no connection leaves the machine."""

import base64
import socket
import socketserver
import threading
from urllib.parse import urlsplit

import pytest

from findings.notifications.webhooks import deliver
from tests.findings.notifications import test_webhook_hardening as hardening
from tests.findings.notifications.test_webhooks import Receiver, verified

pytestmark = pytest.mark.django_db

PUBLIC, DOES_NOT_RESOLVE = hardening.PUBLIC, hardening.DOES_NOT_RESOLVE
fake_dns, webhook_to = hardening.fake_dns, hardening.webhook_to
one_critical_delivery = hardening.one_critical_delivery

# The hardening tests' fixtures, here under their names.
tls = hardening.tls
connections = hardening.connections
private_allowed = hardening.private_allowed
private_refused = hardening.private_refused
production = hardening.production


class Proxy:
    """A threaded HTTP proxy on 127.0.0.1: CONNECT opens a tunnel, an absolute-URL request is
    forwarded. It sends each name to the address `routes` gives it (502 for any other), and
    keeps the request lines and headers (names in lower case) it was sent."""

    def __init__(self, routes: dict[str, str]):
        self.asked: list[str] = []
        self.headers: list[dict] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline().decode("latin-1").rstrip("\r\n")
                raw = []
                while (header := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    raw.append(header)
                proxy.asked.append(line)
                fields = (h.decode("latin-1").rstrip("\r\n").split(": ", 1) for h in raw)
                proxy.headers.append({name.lower(): value for name, value in fields})
                method, target, version = line.split(" ")
                if method == "CONNECT":
                    name, _, port = target.rpartition(":")
                    path = None
                else:
                    url = urlsplit(target)
                    name, port = url.hostname, url.port or 80
                    path = url.path + (f"?{url.query}" if url.query else "")
                if name not in routes:
                    self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                upstream = socket.create_connection((routes[name], int(port)))
                with upstream:
                    if path is None:
                        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    else:
                        kept = [h for h in raw if not h.lower().startswith(b"proxy-")]
                        first = f"{method} {path} {version}\r\n".encode("latin-1")
                        upstream.sendall(first + b"".join(kept) + b"\r\n")
                    self.pipe(upstream)

            def pipe(self, upstream):
                def onwards():
                    try:
                        while data := self.rfile.read1(65536):
                            upstream.sendall(data)
                        upstream.shutdown(socket.SHUT_WR)
                    except (OSError, ValueError):  # ValueError: the handler closed its file
                        pass

                threading.Thread(target=onwards, daemon=True).start()
                try:
                    while data := upstream.recv(65536):
                        self.wfile.write(data)
                except OSError:
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy():
    server = Proxy(routes={"hooks.example.test": "127.0.0.1"})
    yield server
    server.close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_http_goes_through_the_proxy_as_an_absolute_url_with_its_credentials(
    private_refused, production, monkeypatch, connections, proxy, receiver
):
    """The app checks the name (public here), then asks the proxy for the URL; the proxy, not
    the app, connects to the receiver. Credentials in HTTP_PROXY become Proxy-Authorization
    and never reach the receiver."""
    port = receiver.server.server_port
    fake_dns(monkeypatch, {"hooks.example.test": [PUBLIC]})
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("://", "://egress:s%40fe@"))
    webhook_to(f"http://hooks.example.test:{port}/in?team=iam")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert (delivery.status, delivery.last_status_code) == ("delivered", 200)
    assert proxy.asked == [f"POST http://hooks.example.test:{port}/in?team=iam HTTP/1.1"]
    credentials = base64.b64encode(b"egress:s@fe").decode()
    assert proxy.headers[0]["proxy-authorization"] == f"Basic {credentials}"
    (request,) = receiver.requests
    assert verified(request)["event"] == "finding.critical"
    assert request["headers"]["Host"] == f"hooks.example.test:{port}"
    assert not any(name.lower().startswith("proxy-") for name in request["headers"])
    assert PUBLIC not in connections


@pytest.mark.parametrize(
    ("certificate_for", "status", "error"),
    [
        ("hooks.example.test", "delivered", ""),
        (
            "other.example.test",
            "pending",
            "SSLError: Hostname mismatch, certificate is not valid for 'hooks.example.test'.",
        ),
    ],
)
def test_https_goes_through_a_connect_tunnel_and_tls_is_checked_for_the_name(
    private_refused,
    production,
    monkeypatch,
    connections,
    proxy,
    tls,
    certificate_for,
    status,
    error,
):
    _, server_context = tls
    context, server_names = server_context(certificate_for)
    server, seen = hardening.tls_receiver(context)
    fake_dns(monkeypatch, {"hooks.example.test": [PUBLIC]})
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # for http:// only: unused here
    try:
        webhook_to(f"https://hooks.example.test:{server.port}/in")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        server.close()

    assert (delivery.status, delivery.last_error) == (status, error)
    (asked,) = proxy.asked
    assert asked.startswith(f"CONNECT hooks.example.test:{server.port} HTTP/1.")
    assert server_names == ["hooks.example.test"]
    assert [headers["Host"] for headers in seen] == (
        [f"hooks.example.test:{server.port}"] if status == "delivered" else []
    )
    assert PUBLIC not in connections


@pytest.mark.parametrize("no_proxy", ["hooks.example.test", "localhost,.example.test", "*"])
def test_no_proxy_sends_directly_to_the_checked_address(
    private_allowed, production, monkeypatch, proxy, receiver, no_proxy
):
    port = receiver.server.server_port
    calls = fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    webhook_to(f"http://hooks.example.test:{port}/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert delivery.status == "delivered"
    assert proxy.asked == []
    assert len(receiver.requests) == 1
    assert calls == {"hooks.example.test": 1}


@pytest.mark.parametrize(
    ("no_proxy", "direct"),
    [
        ("127.0.0.0/8", True),
        ("10.0.0.0/8, 127.0.0.1/32", True),
        ("::1/128", False),  # another family
        ("10.0.0.0/8", False),
        ("127.0.0.0/33", False),  # not a network: names nothing
    ],
)
def test_a_no_proxy_network_sends_an_address_in_it_directly(
    private_allowed, production, monkeypatch, proxy, receiver, no_proxy, direct
):
    """NO_PROXY=10.0.0.0/8, as requests and curl read it: urllib's reading knows names and
    suffixes only, so every address went through the proxy."""
    proxy_routes_address = Proxy(routes={"127.0.0.1": "127.0.0.1"})
    monkeypatch.setenv("HTTP_PROXY", proxy_routes_address.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    webhook_to(f"http://127.0.0.1:{receiver.server.server_port}/in")
    try:
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        proxy_routes_address.close()

    assert delivery.status == "delivered"
    assert (proxy_routes_address.asked == []) is direct
    assert len(receiver.requests) == 1


def test_a_name_in_a_no_proxy_network_still_goes_through_the_proxy(
    private_allowed, production, monkeypatch, proxy, receiver
):
    """A NO_PROXY network matches addresses written in the URL, not a name's addresses (as for
    requests and curl): the proxy may be the only way to the name."""
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
    webhook_to(f"http://hooks.example.test:{receiver.server.server_port}/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert delivery.status == "delivered" and len(proxy.asked) == 1


def test_a_name_resolving_to_an_internal_address_is_refused_before_anything_goes_to_the_proxy(
    private_refused, production, monkeypatch, proxy, receiver
):
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    webhook_to(f"http://hooks.example.test:{receiver.server.server_port}/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert delivery.status == "failed"
    assert delivery.last_error.startswith("Refused: hooks.example.test resolves to 127.0.0.1")
    assert proxy.asked == [] and receiver.requests == []


def test_a_name_the_app_cannot_resolve_is_left_to_the_proxy(
    private_refused, production, monkeypatch, proxy, receiver
):
    """Where only the egress proxy resolves outside names, every webhook had failed on DNS."""
    port = receiver.server.server_port
    calls = fake_dns(monkeypatch, {"hooks.example.test": [DOES_NOT_RESOLVE]})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    webhook_to(f"http://hooks.example.test:{port}/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert (delivery.status, delivery.last_status_code) == ("delivered", 200)
    assert calls == {"hooks.example.test": 1}
    assert proxy.asked == [f"POST http://hooks.example.test:{port}/in HTTP/1.1"]
    assert len(receiver.requests) == 1


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("reachable", [False, True])
def test_a_proxy_that_cannot_be_reached_or_opens_no_tunnel_is_an_attempt_that_failed(
    private_refused, production, monkeypatch, proxy, reachable
):
    fake_dns(monkeypatch, {"elsewhere.example.test": [PUBLIC]})
    # The running proxy knows no route to elsewhere.example.test.
    proxy_port = proxy.server.server_address[1] if reachable else closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
    webhook_to("https://elsewhere.example.test/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert delivery.status == "pending"
    assert delivery.last_error == (
        f"ProxyError: 127.0.0.1:{proxy_port}: no tunnel to elsewhere.example.test:443 "
        "(CONNECT answered 502)"
        if reachable
        else f"ProxyError: 127.0.0.1:{proxy_port}: Connection refused"
    )


def test_a_receiver_trickling_through_the_proxy_holds_no_worker_past_the_timeout(
    private_refused, production, monkeypatch, proxy
):
    private_refused.WEBHOOK_TIMEOUT_SECONDS = 1
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: " + b"." * 30 + b"\r\n\r\n"
    server = hardening.Server(hardening.trickling(at_once=b"", then=answer, pause=0.25))
    fake_dns(monkeypatch, {"hooks.example.test": [PUBLIC]})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    try:
        delivery, took = hardening.timed_delivery(
            production, f"http://hooks.example.test:{server.port}/slow"
        )
    finally:
        server.close()

    assert took < 5, f"one attempt took {took:.1f}s with WEBHOOK_TIMEOUT_SECONDS=1"
    assert delivery.status == "pending" and delivery.last_error.startswith("Timeout:")
    assert len(proxy.asked) == 1
