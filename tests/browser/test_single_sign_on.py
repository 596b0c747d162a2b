"""Single sign-on in Chromium against a real OpenID Connect provider running beside the test.

The provider (django-oidc-provider, tests/sso_provider) is a second Django process on a free
loopback port; iamreview talks to it exactly as to Okta or Entra ID.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.models import User
from accounts.permissions import Role
from accounts.sso import roles_from_claims
from findings.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "iamreview-test", "a-client-secret-for-tests-only"
PROVIDER_PASSWORD = "provider password 7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class IdentityProvider:
    def __init__(self, url: str, groups_file: Path):
        self.url = url
        self.groups_file = groups_file

    def set_groups(self, email: str, groups: list[str]) -> None:
        current = json.loads(self.groups_file.read_text())
        self.groups_file.write_text(json.dumps({**current, email: groups}))


@pytest.fixture(scope="module")
def identity_provider(live_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("idp")
    port = free_port()
    groups_file = folder / "groups.json"
    groups_file.write_text("{}")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.sso_provider.settings",
        "PROVIDER_DATABASE": str(folder / "provider.sqlite3"),
        "PROVIDER_URL": f"http://127.0.0.1:{port}",
        "PROVIDER_GROUPS_FILE": str(groups_file),
    }
    people = [f"{who}@example.com:{PROVIDER_PASSWORD}" for who in ("carol", "dave")]
    subprocess.run(
        [sys.executable, "-m", "tests.sso_provider.setup"]
        + [f"{live_server.url}/accounts/sso/callback/", CLIENT_ID, CLIENT_SECRET, *people],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.sso_provider.server", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        yield IdentityProvider(f"http://127.0.0.1:{port}", groups_file)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def single_sign_on(settings, identity_provider):
    openid = f"{identity_provider.url}/openid"
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{openid}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{openid}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{openid}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{openid}/jwks"
    settings.OIDC_OP_ISSUER = openid  # what django-oidc-provider puts in `iss`
    settings.OIDC_ROLE_MAP = {
        "security-team": ["reviewer"],
        "security-leads": ["reviewer", "approver"],
        "platform-admins": ["administrator"],
    }
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.sso.SingleSignOnBackend",
    ]
    return identity_provider


def sign_in_through_the_provider(page, live_server, username: str):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Log in with single sign-on").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PROVIDER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_a_new_person_signs_in_and_gets_the_roles_their_groups_map_to(
    page, live_server, single_sign_on, csp_violations
):
    single_sign_on.set_groups("carol@example.com", ["security-leads", "unrelated"])
    sign_in_through_the_provider(page, live_server, "carol")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    carol = User.objects.get(email="carol@example.com")
    assert {g.name for g in carol.groups.all()} == {Role.REVIEWER.value, Role.APPROVER.value}
    assert not carol.has_usable_password()
    granted = AuditEntry.objects.filter(target_label="carol@example.com", action="role.granted")
    assert {e.after["role"] for e in granted} == {"Reviewer", "Approver"}
    assert {e.after["source"] for e in granted} == {"sso"}
    # (The test provider has no favicon: its 404 is not ours.)
    assert [error for error in csp_violations if "Content Security Policy" in error] == []


def test_a_role_the_claim_no_longer_carries_is_removed_at_the_next_sign_in(
    page, live_server, single_sign_on
):
    single_sign_on.set_groups("dave@example.com", ["platform-admins", "security-team"])
    sign_in_through_the_provider(page, live_server, "dave")
    assert page.get_by_role("link", name="Admin").is_visible()
    dave = User.objects.get(email="dave@example.com")
    assert {g.name for g in dave.groups.all()} == {Role.ADMINISTRATOR.value, Role.REVIEWER.value}

    single_sign_on.set_groups("dave@example.com", ["security-team"])
    sign_in_through_the_provider(page, live_server, "dave")
    dave.refresh_from_db()
    assert {g.name for g in dave.groups.all()} == {Role.REVIEWER.value}
    assert not dave.is_staff
    revoked = AuditEntry.objects.get(target_label="dave@example.com", action="role.revoked")
    assert revoked.after == {"role": "Administrator", "held": False, "source": "sso"}
    # No longer an administrator: the Admin link is gone.
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("link", name="Admin").count() == 0


def test_with_passwords_turned_off_the_login_page_offers_only_single_sign_on(
    page, live_server, single_sign_on, settings, reviewer, client
):
    settings.LOCAL_PASSWORDS_ENABLED = False
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_by_role("link", name="Log in with single sign-on").is_visible()
    assert page.get_by_label("Password").count() == 0
    response = client.post(
        "/accounts/login/", {"username": reviewer.email, "password": "correct horse battery 9"}
    )
    assert response.status_code == 403
    assert b"single sign-on" in response.content


def test_claim_values_map_to_roles_case_and_shape_tolerant():
    role_map = {"Sec": ["reviewer"], "Audit": ["auditor"]}
    assert roles_from_claims(claims={"groups": "Sec"}, claim="groups", role_map=role_map) == {
        Role.REVIEWER
    }
    assert roles_from_claims(claims={}, claim="groups", role_map=role_map) == set()
