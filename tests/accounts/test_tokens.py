"""Personal API tokens: shown once, stored as SHA-256 only, revocable, tied to an active user."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import ApiToken
from accounts.tokens import TOKEN_PREFIX, create_token, revoke_token, user_for_token
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
