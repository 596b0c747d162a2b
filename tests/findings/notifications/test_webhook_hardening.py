"""Webhooks that cannot be turned on the app's own network, leak nothing they are told, hold
no worker past their timeout, and tell a new webhook nothing old. Every server is on 127.0.0.1;
names are resolved by a patched getaddrinfo, and a "public" address is never connected to."""

import datetime as dt
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import User
from findings.admin import WebhookForm
from findings.models import AuditEntry, Webhook, WebhookDelivery
from findings.notifications.tasks import send_webhooks
from findings.notifications.webhook_transport import trust_store
from findings.notifications.webhooks import deliver, queue_webhook_events, url_problem
from findings.reviews.services import DecisionInput, decide_item
from tests.findings.notifications.test_digests import make_cycle
from tests.findings.notifications.test_webhooks import SECRET, Receiver, verified
from tests.findings.reviews.test_evidence import make_account, make_finding

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # a global address; every connection to it is refused in-process
DOES_NOT_RESOLVE = object()


@pytest.fixture
def production(db):
    return make_account()


@pytest.fixture
def private_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    return settings


@pytest.fixture
def private_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # receivers listen on 127.0.0.1
    return settings


@pytest.fixture
def connections(monkeypatch):
    """The addresses connected to; one to PUBLIC is refused here, before any packet leaves."""
    real = socket.socket.connect
    tried: list[str] = []

    def connect(self, address):
        tried.append(address[0])
        if address[0] == PUBLIC:
            raise ConnectionRefusedError(111, "Connection refused")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


def fake_dns(monkeypatch, answers: dict):
    """getaddrinfo for the names in `answers` (an address per call, the last repeated;
    DOES_NOT_RESOLVE fails the lookup); every other name as usual (IP literals only here)."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            n = calls[host] = calls.get(host, 0) + 1
            address = answers[host][min(n, len(answers[host])) - 1]
            if address is DOES_NOT_RESOLVE:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def webhook_to(url: str, *, age=timedelta(hours=1), **fields) -> Webhook:
    webhook = Webhook.objects.create(name="Hook", url=url, secret=SECRET, **fields)
    Webhook.objects.filter(pk=webhook.pk).update(created_at=timezone.now() - age)
    webhook.refresh_from_db()
    return webhook


def one_critical_delivery(production) -> int:
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()
    return WebhookDelivery.objects.get().pk


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 with the given handler, optionally speaking TLS."""

    def __init__(self, handler, tls: ssl.SSLContext | None = None):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- SSRF: one reading of the URL --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080\\@hooks.example.com/in",  # urlsplit: hooks.example.com
        "https://hooks.example.com\\@127.0.0.1/in",
        "https://user:password@hooks.example.com/in",
        "https://@hooks.example.com/in",
        "HTTPS://Hooks.Example.com/in",  # urllib3 rewrites it
        "https://hooks.example.com/in put",
        "ftp://hooks.example.com/in",
    ],
)
def test_the_admin_refuses_a_url_that_does_not_read_the_same_every_way(url):
    form = WebhookForm(
        data={"name": "x", "url": url, "secret": SECRET, "format": "json", "is_active": "on"}
    )

    assert not form.is_valid()
    assert "url" in form.errors
    assert url_problem(url=url)


def test_a_backslash_url_saved_before_the_check_is_refused_when_sent(
    private_refused, production, monkeypatch
):
    """urlsplit read `http://127.0.0.1:PORT\\@hooks.example.com/` as hooks.example.com (checked:
    public) and requests as 127.0.0.1:PORT (posted to)."""
    receiver = Receiver()
    try:
        fake_dns(monkeypatch, {"hooks.example.com": [PUBLIC]})
        webhook_to(f"http://127.0.0.1:{receiver.server.server_port}\\@hooks.example.com/in")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        receiver.close()

    assert receiver.requests == []
    assert delivery.status == "failed" and delivery.last_error.startswith("Refused:")


def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to(
    private_refused, production, monkeypatch, connections
):
    """DNS rebinding: a name answering a public address to the check and 127.0.0.1 to the
    request's own lookup reached loopback (or 169.254.169.254)."""
    receiver = Receiver()
    try:
        port = receiver.server.server_port
        calls = fake_dns(monkeypatch, {"rebind.example.com": [PUBLIC, "127.0.0.1"]})
        webhook_to(f"http://rebind.example.com:{port}/in")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        receiver.close()

    assert receiver.requests == []
    assert calls == {"rebind.example.com": 1}
    assert connections == [PUBLIC]
    assert delivery.status == "pending" and "ConnectionError" in delivery.last_error


def test_a_name_that_does_not_resolve_is_an_attempt_that_failed_and_nothing_is_sent(
    private_refused, production, monkeypatch, connections
):
    """A failed lookup at the check let the delivery through to a request that resolved the
    name again (and could get 127.0.0.1)."""
    receiver = Receiver()
    try:
        port = receiver.server.server_port
        answers = {"flaky.example.com": [DOES_NOT_RESOLVE, "127.0.0.1"]}
        calls = fake_dns(monkeypatch, answers)
        webhook_to(f"http://flaky.example.com:{port}/in")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        receiver.close()

    assert receiver.requests == [] and connections == []
    assert calls == {"flaky.example.com": 1}
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error.startswith("DNS: flaky.example.com did not resolve")
    assert delivery.next_attempt_at > timezone.now()


# --- TLS to the checked address, verified as the name ------------------------------------------


@pytest.fixture
def tls(tmp_path, settings):
    """A CA, trusted as a corporate CA is (WEBHOOK_CA_BUNDLE), and server contexts with
    certificates it signed for the names given."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iamreview test CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    settings.WEBHOOK_CA_BUNDLE = str(ca_file)

    def server_context(name: str) -> tuple[ssl.SSLContext, list]:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        chain, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        server_names: list = []
        context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
        return context, server_names

    return ca_file, server_context


def tls_receiver(context: ssl.SSLContext) -> tuple[Server, list]:
    seen: list[dict] = []

    class Handler(QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(dict(self.headers))
            self.send_response(204)
            self.end_headers()

    return Server(Handler, tls=context), seen


def delivered_over_tls(production, monkeypatch, tls, *, certificate_for: str):
    """One delivery to https://hooks.example.test (resolving to 127.0.0.1), answered by a
    server whose certificate is for `certificate_for`: the delivery, the names the server was
    asked for (SNI), the requests it got, and its port."""
    _, server_context = tls
    context, server_names = server_context(certificate_for)
    server, seen = tls_receiver(context)
    try:
        fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
        webhook_to(f"https://hooks.example.test:{server.port}/in")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        server.close()
    return delivery, server_names, seen, server.port


def test_https_goes_to_the_checked_address_with_the_names_sni_host_and_certificate(
    private_allowed, production, monkeypatch, tls
):
    delivery, server_names, seen, port = delivered_over_tls(
        production, monkeypatch, tls, certificate_for="hooks.example.test"
    )

    assert (delivery.status, delivery.last_status_code) == ("delivered", 204)
    assert server_names == ["hooks.example.test"]
    assert seen[0]["Host"] == f"hooks.example.test:{port}"


def test_https_to_a_certificate_for_another_name_is_not_delivered(
    private_allowed, production, monkeypatch, tls
):
    delivery, _, seen, _ = delivered_over_tls(
        production, monkeypatch, tls, certificate_for="other.example.test"
    )

    assert seen == []
    assert delivery.status == "pending" and delivery.last_error.startswith("SSLError:")


def test_a_receiver_whose_ca_is_in_no_bundle_is_not_delivered(
    private_allowed, production, monkeypatch, tls
):
    private_allowed.WEBHOOK_CA_BUNDLE = ""  # certifi's roots alone: the test CA is not one
    delivery, _, seen, _ = delivered_over_tls(
        production, monkeypatch, tls, certificate_for="hooks.example.test"
    )

    assert seen == []
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("SSLError: unable to get local issuer certificate")


def test_a_corporate_bundle_is_trusted_besides_certifis_roots_not_instead(tls):
    ca_file, _ = tls
    public = trust_store(extra_bundle="").get_ca_certs()
    both = trust_store(extra_bundle=str(ca_file)).get_ca_certs()

    assert len(public) > 100  # certifi's
    assert len(both) == len(public) + 1
    assert {"commonName": "iamreview test CA"} in [dict(n[0] for n in c["subject"]) for c in both]


def test_a_bundle_that_cannot_be_read_fails_the_attempt_saying_why(
    private_allowed, production, tmp_path
):
    """Checked at start (settings); a bundle removed or spoilt since is named at the attempt."""
    spoilt = tmp_path / "corporate.pem"
    spoilt.write_text("not a certificate")
    private_allowed.WEBHOOK_CA_BUNDLE = str(spoilt)
    webhook_to("https://127.0.0.1:9/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert delivery.status == "pending"
    assert delivery.last_error.startswith(f"SSLError: WEBHOOK_CA_BUNDLE ({spoilt}) cannot be read")


# --- What a receiver answers is not kept -------------------------------------------------------


def test_an_error_answer_is_logged_by_status_type_and_length_never_its_body(
    private_allowed, production, client, administrator
):
    """last_error kept the first 200 characters of the body: through any route to an internal
    service (or with WEBHOOK_ALLOW_PRIVATE_ADDRESSES) its answer was readable in the admin."""

    class Handler(QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(405)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "31")
            self.end_headers()
            self.wfile.write(b"AccessKeyId=ASIAINTERNALSECRET")

    server = Server(Handler)
    try:
        webhook_to(f"http://127.0.0.1:{server.port}/latest/meta-data/")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        server.close()

    assert delivery.last_error == "HTTP 405 (text/plain, 31 bytes)"
    client.force_login(administrator)
    page = client.get(f"/admin/findings/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b"ASIAINTERNALSECRET" not in page.content and b"HTTP 405" in page.content


def test_a_body_logged_before_is_not_shown_in_the_admin(production, client, administrator):
    webhook = webhook_to("https://hooks.example.com/in")
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event="finding.critical",
        event_key="finding:1",
        payload={},
        next_attempt_at=timezone.now(),
        last_status_code=500,
        last_error="HTTP 500: AccessKeyId=ASIAINTERNALSECRET",
    )
    client.force_login(administrator)

    page = client.get(f"/admin/findings/webhookdelivery/{delivery.pk}/change/")

    assert b"ASIAINTERNALSECRET" not in page.content and b"HTTP 500" in page.content


# --- A slow receiver ---------------------------------------------------------------------------


def trickling(*, at_once: bytes, then: bytes, pause: float):
    """A receiver that sends `at_once`, then `then` a byte at a time."""

    class Handler(QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            try:
                self.wfile.write(at_once)
                for byte in then:
                    self.wfile.flush()
                    time.sleep(pause)
                    self.wfile.write(bytes([byte]))
            except OSError:  # The sender hung up: what these tests expect.
                pass

    return Handler


def timed_delivery(production, url: str) -> tuple[WebhookDelivery, float]:
    """One attempt of one critical finding's delivery to a webhook at `url`, and its seconds."""
    webhook_to(url)
    delivery_id = one_critical_delivery(production)
    started = time.monotonic()
    delivery = deliver(delivery_id=delivery_id)
    return delivery, time.monotonic() - started


def timed_attempt(production, handler) -> tuple[WebhookDelivery, float]:
    server = Server(handler)
    try:
        return timed_delivery(production, f"http://127.0.0.1:{server.port}/slow")
    finally:
        server.close()


def test_a_receiver_trickling_its_answer_holds_no_worker_past_the_timeout(
    private_allowed, production
):
    """requests' timeout is per socket read: an answer sent a byte every 0.25 s never timed out
    (here 13 s of it, with WEBHOOK_TIMEOUT_SECONDS=1)."""
    private_allowed.WEBHOOK_TIMEOUT_SECONDS = 1
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: " + b"." * 30 + b"\r\n\r\n"

    delivery, took = timed_attempt(production, trickling(at_once=b"", then=answer, pause=0.25))

    assert took < 5, f"one attempt took {took:.1f}s with WEBHOOK_TIMEOUT_SECONDS=1"
    assert delivery.status == "pending" and delivery.last_error.startswith("Timeout:")


def test_a_receiver_trickling_its_body_is_not_waited_for(private_allowed, production):
    """The answer's body (read whole, however slow or large) is not read at all: the status
    says whether it was delivered."""
    private_allowed.WEBHOOK_TIMEOUT_SECONDS = 1
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n"

    delivery, took = timed_attempt(production, trickling(at_once=head, then=b"." * 32, pause=0.25))

    assert took < 5, f"one attempt took {took:.1f}s with WEBHOOK_TIMEOUT_SECONDS=1"
    assert (delivery.status, delivery.last_status_code) == ("delivered", 200)


# --- Slack -------------------------------------------------------------------------------------


def test_slack_text_shows_names_literally_and_links_only_to_iamreview(
    private_allowed, production, reviewer
):
    """Titles (a release's application name from the API, an account name in an item's title,
    a cycle title) went between Slack's control characters unescaped: `<!channel>` pinged the
    channel and `<https://...|text>` was a disguised link."""
    receiver = Receiver()
    title = "Release <!channel> <https://evil.example/sso|Sign off here> R&D 1.0"
    try:
        webhook_to(receiver.url, format="slack", events=["cycle.overdue", "decision.remediate"])
        make_cycle(production, title, due_in=-1)
        pending = make_cycle(
            production, "Q3 <!here>", due_in=3, arns=["arn:aws:iam::1:user/<!here>"]
        )
        decide_item(
            item=pending.items.get(),
            actor=reviewer,
            decision=DecisionInput(kind="remediate", justification="Remove the unused key"),
            expected_latest_id=None,
        )
        Webhook.objects.update(created_at=timezone.now() - timedelta(days=3))
        send_webhooks()
    finally:
        receiver.close()

    texts = sorted(verified(request)["text"] for request in receiver.requests)
    assert len(texts) == 2
    for text in texts:
        assert "<!" not in text and "<https://evil" not in text
        assert text.endswith("|Open in iamreview>")
        assert text.count("<") == 1 and text.count(">") == 1
    assert any("&lt;!channel&gt;" in text and "R&amp;D" in text for text in texts)
    assert any("user/&lt;!here&gt;" in text for text in texts)


# --- A webhook URL that is a credential --------------------------------------------------------


def test_a_webhook_url_is_audited_by_origin_and_fingerprint_never_whole(client, administrator):
    """A Slack incoming-webhook URL (or one with ?token=) is the credential itself: it went
    verbatim into the audit log, which auditors read and export and which is never purged,
    and into the admin's list."""
    client.force_login(administrator)
    token = "xoxbSECRETPATHTOKEN0123456789"
    first = f"https://hooks.slack.com/services/T0000/B0000/{token}"
    response = client.post(
        "/admin/findings/webhook/add/",
        {"name": "Slack", "url": first, "secret": SECRET, "format": "slack", "is_active": "on"},
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get()
    response = client.post(
        f"/admin/findings/webhook/{webhook.pk}/change/",
        {
            "name": "Slack",
            "url": "https://hooks.slack.com/services/T0000/B0000/x?token=ROTATED-TOKEN-42",
            "secret": SECRET,
            "format": "slack",
            "is_active": "on",
        },
    )
    assert response.status_code == 302

    created = AuditEntry.objects.get(action="webhook.created")
    changed = AuditEntry.objects.get(action="webhook.changed")
    logged = json.dumps([created.before, created.after, changed.before, changed.after])
    assert token not in logged and "ROTATED-TOKEN-42" not in logged and "/services/" not in logged
    assert created.after["url_origin"] == changed.after["url_origin"] == "https://hooks.slack.com"
    assert changed.before["url_fingerprint"] == created.after["url_fingerprint"]
    assert changed.after["url_fingerprint"] != changed.before["url_fingerprint"]
    assert (changed.after["url_changed"], changed.after["secret_changed"]) == (True, False)
    listing = client.get("/admin/findings/webhook/")
    assert b"hooks.slack.com" in listing.content and b"ROTATED-TOKEN-42" not in listing.content


# --- The signing secret is write-only ---------------------------------------------------------


def test_the_webhook_change_page_does_not_show_the_signing_secret(administrator, client):
    """It was an <input type="text" value="whsec-..."> for anyone with the admin, whereas the
    audit log is careful never to hold it."""
    webhook = Webhook.objects.create(
        name="Ticketing", url="https://hooks.example.com/in", secret=SECRET
    )
    client.force_login(administrator)

    page = client.get(f"/admin/findings/webhook/{webhook.pk}/change/")

    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert b'type="password" name="secret"' in page.content


def test_a_secret_left_blank_on_edit_is_kept_and_a_new_one_replaces_it(administrator, client):
    webhook = Webhook.objects.create(
        name="Ticketing", url="https://hooks.example.com/in", secret=SECRET
    )
    client.force_login(administrator)
    form = {"name": "Tickets", "url": webhook.url, "format": "json", "is_active": "on"}

    kept = client.post(f"/admin/findings/webhook/{webhook.pk}/change/", {**form, "secret": ""})
    replaced = client.post(
        f"/admin/findings/webhook/{webhook.pk}/change/", {**form, "secret": "whsec-rotated-42"}
    )

    assert (kept.status_code, replaced.status_code) == (302, 302)
    webhook.refresh_from_db()
    assert webhook.secret == "whsec-rotated-42"
    renamed, rotated = AuditEntry.objects.filter(action="webhook.changed").order_by("id")
    assert (renamed.after["name"], renamed.after["secret_changed"]) == ("Tickets", False)
    assert rotated.after["secret_changed"] is True
    assert "whsec-rotated-42" not in json.dumps([rotated.before, rotated.after])


def test_a_new_webhook_needs_a_secret(administrator, client):
    client.force_login(administrator)

    page = client.post(
        "/admin/findings/webhook/add/",
        {"name": "Ticketing", "url": "https://hooks.example.com/in", "format": "json"},
    )

    assert page.status_code == 200 and b"This field is required." in page.content
    assert not Webhook.objects.exists()


def test_someone_who_may_only_view_a_webhook_is_not_shown_its_secret(client):
    webhook = Webhook.objects.create(
        name="Ticketing", url="https://hooks.example.com/in", secret=SECRET
    )
    viewer = User.objects.create_user("vera.viewer@example.com", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="manage_people"),
        Permission.objects.get(codename="view_webhook"),
    )
    client.force_login(viewer)

    page = client.get(f"/admin/findings/webhook/{webhook.pk}/change/")

    assert page.status_code == 200 and b"Ticketing" in page.content
    assert SECRET not in page.content.decode()


# --- The delivery id inside the signature ------------------------------------------------------


def test_the_delivery_id_and_event_key_a_receiver_deduplicates_on_are_signed(
    private_allowed, production
):
    """The signature covered a body without the delivery id: a captured request replayed
    under another X-IAMReview-Delivery passed a receiver deduplicating on that header."""
    receiver = Receiver()
    try:
        webhook_to(receiver.url)
        make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
        send_webhooks()
    finally:
        receiver.close()

    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    expected = hmac.new(
        SECRET.encode(), f"{headers['X-IAMReview-Timestamp']}.".encode() + body, hashlib.sha256
    )
    assert headers["X-IAMReview-Signature"] == f"sha256={expected.hexdigest()}"
    delivery = WebhookDelivery.objects.get()
    signed = json.loads(body)
    assert signed["delivery_id"] == delivery.pk == int(headers["X-IAMReview-Delivery"])
    assert signed["event_key"] == delivery.event_key


# --- A new webhook and old events --------------------------------------------------------------


def test_a_new_webhook_is_not_told_of_a_cycle_overdue_since_before_it(private_allowed, production):
    """README: "a webhook hears only of what happens after it is created". Cycle events were
    dated when seen: a webhook created today heard of a cycle overdue for weeks."""
    receiver = Receiver()
    try:
        make_cycle(production, "Q1 credentials", due_in=-40)
        Webhook.objects.create(name="New", url=receiver.url, secret=SECRET)
        send_webhooks()
    finally:
        receiver.close()

    assert receiver.requests == []


def test_a_cycle_is_overdue_from_the_start_of_the_day_after_its_due_date(
    private_allowed, production
):
    receiver = Receiver()
    try:
        cycle = make_cycle(production, "Q3 credentials", due_in=-2)
        webhook_to(receiver.url, age=timedelta(days=3), events=["cycle.overdue"])
        send_webhooks()
    finally:
        receiver.close()

    (request,) = receiver.requests
    occurred_at = dt.datetime.fromisoformat(verified(request)["occurred_at"])
    next_day = timezone.make_aware(dt.datetime.combine(cycle.due_on + timedelta(days=1), dt.time()))
    assert occurred_at == next_day


def test_a_new_webhook_is_not_told_of_a_cycle_ready_before_it_but_hears_the_next(
    private_allowed, production, reviewer
):
    receiver = Receiver()
    remediate = DecisionInput(kind="remediate", justification="Remove the unused key")
    try:
        ready_before = make_cycle(production, "Release 2.14", due_in=5)
        decide_item(
            item=ready_before.items.get(),
            actor=reviewer,
            decision=remediate,
            expected_latest_id=None,
        )
        Webhook.objects.create(
            name="New", url=receiver.url, secret=SECRET, events=["cycle.ready_to_sign"]
        )
        ready_after = make_cycle(production, "Release 2.15", due_in=5)
        send_webhooks()
        assert receiver.requests == []
        decision = decide_item(
            item=ready_after.items.get(),
            actor=reviewer,
            decision=remediate,
            expected_latest_id=None,
        )
        send_webhooks()
    finally:
        receiver.close()

    (request,) = receiver.requests
    payload = verified(request)
    assert payload["data"]["cycle_id"] == ready_after.pk
    assert dt.datetime.fromisoformat(payload["occurred_at"]) == decision.decided_at
