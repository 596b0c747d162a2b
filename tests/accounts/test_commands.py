import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from accounts.people import grant_role
from accounts.permissions import Capability, Role, can, has_role

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    if stdin is not None:
        import sys

        old = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            call_command(*args, stdout=out)
        finally:
            sys.stdin = old
    else:
        call_command(*args, stdout=out)
    return out.getvalue()


def test_create_user_without_password_generates_and_prints_one():
    output = run("create_user", "Dana@Example.com", "--role", "reviewer", "--role", "approver")
    password = output.strip().splitlines()[-1].removeprefix("Password: ")
    user = User.objects.get(email="dana@example.com")
    assert user.check_password(password)
    assert has_role(user, Role.REVIEWER) and has_role(user, Role.APPROVER)


def test_create_user_reads_the_password_from_stdin():
    output = run("create_user", "eve@example.com", "--password-stdin", stdin="s3cret passphrase\n")
    assert "Password:" not in output
    assert User.objects.get(email="eve@example.com").check_password("s3cret passphrase")


def test_create_user_refuses_a_duplicate_and_an_unknown_role():
    run("create_user", "dup@example.com")
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "DUP@example.com")
    with pytest.raises(CommandError, match="Unknown role"):
        run("create_user", "new@example.com", "--role", "wizard")


def test_grant_role_adds_a_role_and_administrators_reach_django_admin():
    run("create_user", "fay@example.com")
    assert "Granted Administrator" in run("grant_role", "fay@example.com", "administrator")
    user = User.objects.get(email="fay@example.com")
    assert user.is_staff and has_role(user, Role.ADMINISTRATOR)
    assert "already holds" in run("grant_role", "fay@example.com", "Administrator")


def test_revoking_administrator_from_a_superuser_takes_the_administrators_powers(client):
    """The command said the role was gone, and the audit log said held: False, yet the person
    still managed people and AWS accounts and kept the Django admin (single sign-on already
    took a superuser's powers with the role)."""
    boss = User.objects.create_superuser("boss@example.com", "correct horse battery 9")
    grant_role(user=boss, role=Role.ADMINISTRATOR)

    assert "Revoked Administrator" in run("revoke_role", "boss@example.com", "administrator")

    boss = User.objects.get(pk=boss.pk)
    assert not has_role(boss, Role.ADMINISTRATOR)
    assert (boss.is_superuser, boss.is_staff) == (False, False)
    assert not can(boss, Capability.MANAGE_PEOPLE) and not can(boss, Capability.MANAGE_ACCOUNTS)
    client.force_login(boss)
    assert client.get("/admin/").status_code != 200


def test_a_superuser_without_the_administrator_group_still_holds_it_to_revoke():
    User.objects.create_superuser("root@example.com", "correct horse battery 9")

    assert "Revoked Administrator" in run("revoke_role", "root@example.com", "administrator")

    root = User.objects.get(email="root@example.com")
    assert not can(root, Capability.MANAGE_PEOPLE) and not root.is_staff
    assert "does not hold" in run("revoke_role", "root@example.com", "administrator")


def test_grant_role_to_an_unknown_user_fails_clearly():
    with pytest.raises(CommandError, match="No user with the email"):
        run("grant_role", "ghost@example.com", "auditor")
