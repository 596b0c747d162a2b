import io

import pytest
from django.core.management import call_command

from findings.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/"


def test_person_logs_in_with_email_and_sees_the_dashboard(client, reviewer):
    response = client.post(
        "/accounts/login/", {"username": "RITA.reviewer@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert b"Dashboard" in page.content
    assert b"Reviewer" in page.content


def test_wrong_password_shows_a_clear_error(client, reviewer):
    response = client.post("/accounts/login/", {"username": reviewer.email, "password": "nope"})
    assert response.status_code == 200
    assert b"enter a correct email and password" in response.content


def fail(client, email: str, address: str):
    return client.post(
        "/accounts/login/", {"username": email, "password": "wrong"}, REMOTE_ADDR=address
    )


def log_in(client, email: str, address: str):
    return client.post(
        "/accounts/login/", {"username": email, "password": PASSWORD}, REMOTE_ADDR=address
    )


def test_repeated_failed_logins_lock_the_account_from_that_address(client, reviewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(client, reviewer.email, "10.0.0.1")
    locked = log_in(client, reviewer.email, "10.0.0.1")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert b"is locked for 15 minutes after repeated failed attempts" in locked.content


def test_another_spelling_of_the_same_email_counts_against_the_same_lock(
    client, reviewer, settings
):
    """Login matches the email case-insensitively, so the lock does too."""
    spellings = [reviewer.email.upper(), f" {reviewer.email.title()} ", reviewer.email]
    for number in range(settings.AXES_FAILURE_LIMIT):
        fail(client, spellings[number % len(spellings)], "10.0.0.1")
    assert log_in(client, reviewer.email.upper(), "10.0.0.1").status_code == 429
    assert log_in(client, reviewer.email, "10.0.0.1").status_code == 429


def test_a_colleague_behind_the_same_nat_is_not_locked_out_by_someone_elses_typos(
    client, reviewer, approver, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(client, reviewer.email, "10.0.0.1")

    assert log_in(client, approver.email, "10.0.0.1").status_code == 302


def test_someone_guessing_a_password_elsewhere_does_not_lock_the_owner_out(
    client, reviewer, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(client, reviewer.email, "203.0.113.9")

    assert log_in(client, reviewer.email, "10.0.0.1").status_code == 302


def test_password_spraying_from_one_address_locks_that_address_for_everyone(
    client, approver, settings
):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 8
    for i in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
        fail(client, f"guess{i}@example.com", "203.0.113.9")

    assert log_in(client, approver.email, "203.0.113.9").status_code == 429
    assert log_in(client, approver.email, "10.0.0.1").status_code == 302


PROXY = "172.18.0.1"  # every connection behind a proxy comes from it


def through_proxy(client, email: str, password: str, forwarded: str):
    return client.post(
        "/accounts/login/",
        {"username": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_behind_a_proxy_the_owner_is_not_locked_out_by_a_stranger_guessing_elsewhere(
    client, reviewer, settings
):
    """Every login came from the proxy's address: a stranger's failures locked the owner
    out, and 50 failures from anyone locked out everybody."""
    settings.BEHIND_PROXY = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        through_proxy(client, reviewer.email, "wrong", "203.0.113.9")

    assert through_proxy(client, reviewer.email, "wrong", "203.0.113.9").status_code == 429
    assert through_proxy(client, reviewer.email, PASSWORD, "10.0.0.1").status_code == 302


def test_behind_a_proxy_a_forged_forwarded_address_does_not_escape_the_lock(
    client, reviewer, settings
):
    """The client may send its own X-Forwarded-For; the proxy appends the address it saw, and
    only that right-most entry is believed."""
    settings.BEHIND_PROXY = True
    for n in range(settings.AXES_FAILURE_LIMIT):
        through_proxy(client, reviewer.email, "wrong", f"10.9.9.{n}, 203.0.113.9")

    locked = through_proxy(client, reviewer.email, PASSWORD, "10.9.9.99, 203.0.113.9")
    assert locked.status_code == 429


def test_without_a_proxy_a_forwarded_address_is_ignored(client, reviewer, settings):
    settings.BEHIND_PROXY = False
    for n in range(settings.AXES_FAILURE_LIMIT):
        through_proxy(client, reviewer.email, "wrong", f"203.0.113.{n}")

    assert through_proxy(client, reviewer.email, PASSWORD, "10.0.0.1").status_code == 429


@pytest.mark.parametrize(
    "forwarded", ["203.0.113.9:5678", "[2001:db8::9]:443", "10.0.0.1, 203.0.113.9:1"]
)
def test_behind_a_proxy_a_forwarded_address_with_a_port_is_that_address(forwarded):
    """Read as nothing, it fell back to the proxy's address: one lock for everyone again."""
    from django.test import RequestFactory, override_settings

    from accounts.lockout import client_address

    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(BEHIND_PROXY=True):
        assert client_address(request) in ("203.0.113.9", "2001:db8::9")


@pytest.mark.parametrize("forwarded", ["", "not-an-address", "1.2.3.4, ", "999.1.1.1"])
def test_behind_a_proxy_an_odd_forwarded_header_falls_back_to_the_connection(
    client, reviewer, settings, forwarded
):
    settings.BEHIND_PROXY = True
    assert through_proxy(client, reviewer.email, PASSWORD, forwarded).status_code == 302


def test_logout_needs_a_post_and_ends_the_session(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_browser_session_of_a_deactivated_person_stays_dead_after_reactivation(client, reviewer):
    """The session opened before the deactivation was signed in again once the person was
    reactivated."""
    client.force_login(reviewer)
    assert client.get("/accounts/profile/").status_code == 200

    call_command("deactivate_user", reviewer.email, stdout=io.StringIO())
    assert client.get("/accounts/profile/").status_code == 302  # to the login page

    reviewer.refresh_from_db()
    reviewer.is_active = True
    reviewer.save()

    assert client.get("/accounts/profile/").status_code == 302
    [ended] = AuditEntry.objects.filter(action="user.sessions_ended")
    assert (ended.target_label, ended.after) == (reviewer.email, {"sessions_ended": 1})


def test_every_response_carries_a_strict_content_security_policy(client, reviewer):
    client.force_login(reviewer)
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    login_policy = client.get("/accounts/login/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in login_policy


def test_pages_load_htmx_from_our_own_static_files_and_send_the_csrf_token(client, reviewer):
    client.force_login(reviewer)
    html = client.get("/").content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "http://" not in html.split("<body")[0].replace("http://www.w3.org", "")
    assert "https://" not in html


def test_profile_shows_roles_and_password_change_works(client, reviewer):
    client.force_login(reviewer)
    profile = client.get("/accounts/profile/")
    assert b"Reviewer" in profile.content
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much better passphrase 42",
            "new_password2": "a much better passphrase 42",
        },
    )
    assert response.status_code == 302
    reviewer.refresh_from_db()
    assert reviewer.check_password("a much better passphrase 42")


def test_navigation_shows_only_what_the_role_may_use(client, outsider, administrator):
    client.force_login(outsider)
    html = client.get("/").content.decode()
    assert "Findings" not in html and ">Admin<" not in html
    assert "hold no role yet" in html
    client.force_login(administrator)
    html = client.get("/").content.decode()
    assert "Findings" in html and ">Admin<" in html


def test_user_supplied_names_are_escaped(client, db):
    from tests.conftest import make_person

    user = make_person("xss@example.com")
    user.full_name = "<script>alert(1)</script>"
    user.save()
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_an_address_longer_than_any_account_is_a_wrong_login_not_a_500(client, reviewer):
    """The lockout records failed attempts in 255 characters: a longer address was a 500."""
    response = client.post("/accounts/login/", {"username": "a" * 300 + "@x.io", "password": "x"})
    assert response.status_code == 200
    assert b"enter a correct email and password" in response.content


def test_a_login_page_that_sends_back_to_itself_takes_a_signed_in_person_home(client, reviewer):
    """A stale bookmark: Django refuses the redirect loop with an error (a 500)."""
    client.force_login(reviewer)
    response = client.get("/accounts/login/", {"next": "/accounts/login/"})
    assert response.status_code == 302 and response.url == "/"


def test_someone_linked_to_single_sign_on_signs_in_there_not_with_an_old_password(
    client, reviewer, administrator, settings
):
    """Their roles follow the identity provider's groups at each sign-in: a person it moved or
    offboarded must not keep access through a local password set before."""
    settings.OIDC_ENABLED = True
    settings.OIDC_OP_ISSUER = "https://idp.example.com"
    reviewer.sso_issuer, reviewer.sso_subject = "https://idp.example.com", "rita-123"
    reviewer.save(update_fields=["sso_issuer", "sso_subject"])

    refused = client.post("/accounts/login/", {"username": reviewer.email, "password": PASSWORD})
    assert refused.status_code == 200
    assert b"This account signs in with single sign-on" in refused.content
    assert "_auth_user_id" not in client.session
    # A wrong password still says only that: the message tells nothing to someone guessing.
    wrong = client.post("/accounts/login/", {"username": reviewer.email, "password": "nope"})
    assert b"This account signs in with single sign-on" not in wrong.content
    assert b"enter a correct email and password" in wrong.content

    # An account never linked (a break-glass administrator) keeps its password.
    assert (
        client.post(
            "/accounts/login/", {"username": administrator.email, "password": PASSWORD}
        ).status_code
        == 302
    )
