"""Personal API tokens: shown once, stored as SHA-256 only, expiring, revocable, tied to an active
user."""

import hashlib
import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import ApiToken
from accounts.tokens import (
    TOKEN_PREFIX,
    caller_for_token,
    create_token,
    revoke_token,
    user_for_token,
)
from findings.models import AuditEntry

pytestmark = pytest.mark.django_db


def api_token(*args) -> str:
    out = io.StringIO()
    call_command("api_token", *args, stdout=out)
    return out.getvalue()


def test_creating_a_token_stores_only_its_sha256(reviewer):
    token, raw = create_token(user=reviewer, name=" release pipeline ")

    assert raw.startswith(TOKEN_PREFIX) and len(raw) > 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:12]
    assert token.name == "release pipeline"
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = repr(cursor.fetchall())
        cursor.execute("SELECT * FROM findings_auditentry")
        audited = repr(cursor.fetchall())
    assert raw not in stored
    assert raw not in audited
    assert AuditEntry.objects.get(target_type="api_token").action == "token.created"


def test_a_token_identifies_its_user_and_records_its_use(reviewer):
    token, raw = create_token(user=reviewer, name="pipeline")

    assert user_for_token(raw) == reviewer

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_token_identifies_nobody(reviewer, administrator):
    token, raw = create_token(user=reviewer, name="pipeline")

    revoke_token(token=token, actor=administrator)

    assert user_for_token(raw) is None
    token.refresh_from_db()
    assert not token.is_active
    assert AuditEntry.objects.filter(action="token.revoked", actor=administrator).exists()
    revoke_token(token=token, actor=administrator)
    assert AuditEntry.objects.filter(action="token.revoked").count() == 1


def test_the_token_of_an_inactive_user_identifies_nobody(reviewer):
    _, raw = create_token(user=reviewer, name="pipeline")

    reviewer.is_active = False
    reviewer.save()

    assert user_for_token(raw) is None


def test_a_token_of_a_deactivated_person_stays_dead_after_reactivation(client, reviewer):
    """Deactivating only turned the person off: ticking "active" again weeks later brought back
    a token that may have leaked (often the reason for deactivating), unannounced."""
    token, raw = create_token(user=reviewer, name="laptop script")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/cycles", headers=headers).status_code == 200

    call_command("deactivate_user", reviewer.email, stdout=io.StringIO())
    assert client.get("/api/cycles", headers=headers).status_code == 401

    reviewer.refresh_from_db()
    reviewer.is_active = True
    reviewer.save()

    assert client.get("/api/cycles", headers=headers).status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    [revoked] = AuditEntry.objects.filter(action="token.revoked")
    assert (revoked.target_id, revoked.actor_label) == (str(token.pk), "system")


@pytest.mark.parametrize("raw", ["", "not-a-token", TOKEN_PREFIX, TOKEN_PREFIX + "guessed"])
def test_unknown_or_malformed_tokens_identify_nobody(reviewer, raw):
    create_token(user=reviewer, name="pipeline")

    assert user_for_token(raw) is None


def test_a_token_needs_a_name(reviewer):
    with pytest.raises(ValueError, match="name"):
        create_token(user=reviewer, name="  ")

    assert not ApiToken.objects.exists()


def test_api_token_create_prints_the_token_alone_on_its_last_line(reviewer):
    output = api_token("create", "Rita.Reviewer@example.com", "--name", "release pipeline")

    last = output.rstrip("\n").splitlines()[-1]
    assert last.startswith(TOKEN_PREFIX) and " " not in last
    assert user_for_token(last) == reviewer
    assert "release pipeline" in output
    assert output.count(last) == 1
    # An operator made it, not its owner: the audit trail says "system", as for roles.
    assert AuditEntry.objects.get(action="token.created").actor_label == "system"


def test_api_token_lists_and_revokes_by_prefix(reviewer):
    token, raw = create_token(user=reviewer, name="pipeline")

    assert "active" in api_token("list", reviewer.email)
    assert "Revoked" in api_token("revoke", reviewer.email, token.prefix)

    assert "revoked" in api_token("list", reviewer.email)
    assert user_for_token(raw) is None
    assert AuditEntry.objects.get(action="token.revoked").actor_label == "system"


def test_api_token_refuses_an_unknown_person_or_prefix(reviewer):
    with pytest.raises(CommandError, match="No user"):
        api_token("create", "nobody@example.com", "--name", "x")
    with pytest.raises(CommandError, match="No such token"):
        api_token("revoke", reviewer.email, "iamr_missing")
    with pytest.raises(CommandError, match="name"):
        api_token("create", reviewer.email, "--name", " ")


def test_a_token_works_for_ninety_days_unless_told_otherwise(reviewer):
    token, _ = create_token(user=reviewer, name="pipeline")
    longer, _ = create_token(user=reviewer, name="audit export", days=365)

    assert (token.expires_at - token.created_at).days in (89, 90)
    assert (longer.expires_at - longer.created_at).days in (364, 365)
    entry = AuditEntry.objects.filter(action="token.created", target_id=str(token.pk)).get()
    assert entry.after["expires_at"] == token.expires_at.isoformat()
    with pytest.raises(ValueError, match="30, 90, 180, 365 days"):
        create_token(user=reviewer, name="forever", days=100_000)


def test_an_expired_token_identifies_nobody(reviewer):
    """A person who leaves through the identity provider is never signed in again here, so
    never deactivated: their tokens stopped only when revoked by hand."""
    token, raw = create_token(user=reviewer, name="pipeline")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert user_for_token(raw) is None
    token.refresh_from_db()
    assert token.is_expired and not token.is_active
    assert "expired" in api_token("list", reviewer.email)


def test_an_expired_token_is_refused_by_the_api(client, reviewer):
    token, raw = create_token(user=reviewer, name="pipeline")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/findings", headers=headers).status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = client.get("/api/findings", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]


def test_the_profile_makes_a_token_for_the_days_chosen_and_refuses_others(client, reviewer):
    client.force_login(reviewer)
    response = client.post(
        "/accounts/profile/tokens/", {"name": "release", "days": "30", "form_id": "f1"}
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="release")
    assert (token.expires_at - token.created_at).days in (29, 30)
    page = client.get("/accounts/profile/").content.decode()
    assert token.expires_at.strftime("%Y-%m-%d") in page

    refused = client.post(
        "/accounts/profile/tokens/", {"name": "forever", "days": "36500", "form_id": "f2"}
    )
    assert refused.status_code == 200
    assert not ApiToken.objects.filter(name="forever").exists()
    assert "Select a valid choice" in refused.content.decode()


def test_api_token_create_takes_the_days(reviewer):
    out = api_token("create", reviewer.email, "--name", "ci", "--days", "180")
    token = ApiToken.objects.get(name="ci")
    assert (token.expires_at - token.created_at).days in (179, 180)
    assert f"working until {token.expires_at:%Y-%m-%d}" in out


def test_the_token_lifetime_comes_before_the_create_button(client, reviewer):
    """Reading and tab order: name, how long it works, then the button."""
    client.force_login(reviewer)
    page = client.get("/accounts/profile/").content.decode()
    form = page[page.index('action="/accounts/profile/tokens/"') :]
    assert form.index('name="name"') < form.index('name="days"') < form.index("Create token")
    options = re.findall(r'<option value="(\d+)"', form)
    assert options == ["30", "90", "180", "365"]
    assert re.search(r'<option value="90" selected>', form)


# --- Scopes -------------------------------------------------------------------------------------


def test_a_token_is_full_unless_told_otherwise_and_the_audit_entry_records_its_scope(reviewer):
    full, _ = create_token(user=reviewer, name="laptop script")
    pipeline, raw = create_token(user=reviewer, name="deploy", scope="release-pipeline")

    assert full.scope == ApiToken.Scope.FULL
    pipeline.refresh_from_db()
    assert pipeline.scope == ApiToken.Scope.RELEASE_PIPELINE
    scopes = {
        entry.target_id: entry.after["scope"]
        for entry in AuditEntry.objects.filter(action="token.created")
    }
    assert scopes == {str(full.pk): "full", str(pipeline.pk): "release-pipeline"}
    caller = caller_for_token(raw=raw)
    assert (caller.user, caller.scope) == (reviewer, ApiToken.Scope.RELEASE_PIPELINE)


def test_a_scope_that_does_not_exist_makes_no_token(reviewer):
    with pytest.raises(ValueError, match="full, release-pipeline"):
        create_token(user=reviewer, name="ci", scope="admin")

    assert not ApiToken.objects.exists()
    assert not AuditEntry.objects.filter(action="token.created").exists()


def test_api_token_create_takes_the_scope_and_list_shows_it(reviewer):
    out = api_token("create", reviewer.email, "--name", "deploy", "--scope", "release-pipeline")
    assert "(release-pipeline)" in out
    assert ApiToken.objects.get(name="deploy").scope == "release-pipeline"
    api_token("create", reviewer.email, "--name", "laptop")

    listed = api_token("list", reviewer.email)
    assert re.search(r"deploy\s+release-pipeline\s+active", listed)
    assert re.search(r"laptop\s+full\s+active", listed)
    with pytest.raises(CommandError, match="invalid choice"):
        api_token("create", reviewer.email, "--name", "x", "--scope", "everything")


def test_the_profile_makes_a_release_pipeline_token_and_lists_its_scope(client, reviewer):
    client.force_login(reviewer)
    page = client.get("/accounts/profile/").content.decode()
    form = page[page.index('action="/accounts/profile/tokens/"') :]
    assert form.index('name="name"') < form.index('name="scope"') < form.index('name="days"')
    assert re.findall(r'<option value="([\w-]+)"', form[: form.index('name="days"')]) == [
        "full",
        "release-pipeline",
    ]
    assert re.search(r'<option value="full" selected>', form)

    created = client.post(
        "/accounts/profile/tokens/",
        {"name": "deploy", "scope": "release-pipeline", "days": "90", "form_id": "f1"},
    )
    assert created.status_code == 200
    assert "Release pipeline: register releases" in created.content.decode()
    token = ApiToken.objects.get(name="deploy")
    assert token.scope == ApiToken.Scope.RELEASE_PIPELINE
    entry = AuditEntry.objects.get(action="token.created")
    assert (entry.actor, entry.after["scope"]) == (reviewer, "release-pipeline")

    # An older page sends no scope: a full token, as every token was.
    client.post("/accounts/profile/tokens/", {"name": "script", "form_id": "f2"})
    assert ApiToken.objects.get(name="script").scope == ApiToken.Scope.FULL

    tokens = client.get("/accounts/profile/").content.decode()
    tokens = tokens[tokens.index('id="tokens-heading"') :]
    assert '<th scope="col">Scope</th>' in tokens
    row = r"<td>{}</td>\s*<td><code>[^<]*</code></td>\s*<td>{}"
    assert re.search(row.format("deploy", "Release pipeline: register releases"), tokens)
    assert re.search(row.format("script", "Full: everything your roles allow"), tokens)

    refused = client.post(
        "/accounts/profile/tokens/", {"name": "root", "scope": "admin", "form_id": "f3"}
    )
    assert "Select a valid choice" in refused.content.decode()
    assert not ApiToken.objects.filter(name="root").exists()


@pytest.mark.django_db(transaction=True)
def test_tokens_made_before_scopes_keep_their_owner_s_capabilities(reviewer):
    """The upgrade stops no pipeline: a token from before it is a full token."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0012_api_token_expiry")])
    try:
        old = executor.loader.project_state([("accounts", "0012_api_token_expiry")]).apps
        old.get_model("accounts", "ApiToken").objects.create(
            user_id=reviewer.pk,
            name="old pipeline",
            prefix="iamr_old",
            token_hash="0" * 64,
            expires_at=timezone.now() + timedelta(days=30),
        )
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert ApiToken.objects.get(name="old pipeline").scope == ApiToken.Scope.FULL
