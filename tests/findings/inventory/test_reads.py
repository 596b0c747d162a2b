"""The inventory lists' rows (findings.inventory.reads) carry what the ORM would count: each
user's present credential report row and open findings, each role's open findings and its
inline and managed policies; ids that are not there are left out."""

import pytest
from django.db.models.signals import post_init
from django.utils import timezone

from findings.inventory.reads import read_roles, read_users
from findings.models import CredentialReportEntry, Finding, IamUser
from tests.findings.api.test_api import make_finding
from tests.findings.detection.test_detect import (
    attach,
    credential_entry,
    iam_role,
    iam_user,
    make_account,
)

pytestmark = pytest.mark.django_db

DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}


def test_users_carry_their_credential_row_and_open_findings():
    production, staging = make_account(), make_account("444455556666", "Staging")
    alice, bob, carol = (iam_user(production, name) for name in ("alice", "bob", "carol"))
    twin = iam_user(staging, "alice")  # the same name in another account
    credential_entry(production, "alice")
    gone = credential_entry(production, "bob")
    CredentialReportEntry.objects.filter(pk=gone.pk).update(gone_at=timezone.now())
    credential_entry(staging, "alice")
    make_finding(production, alice.arn)
    make_finding(production, alice.arn, check="user_no_mfa")
    resolved = make_finding(production, alice.arn, check="key_unused")
    Finding.objects.filter(pk=resolved.pk).update(status=Finding.Status.RESOLVED)
    make_finding(staging, twin.arn)

    users = read_users(ids=[alice.pk, bob.pk, carol.pk, twin.pk, 10**12])
    assert set(users) == {alice.pk, bob.pk, carol.pk, twin.pk}
    assert (users[alice.pk].open_findings, users[twin.pk].open_findings) == (2, 1)
    assert users[bob.pk].open_findings == users[carol.pk].open_findings == 0
    assert users[alice.pk].entry.account_id == production.pk
    assert users[twin.pk].entry.account_id == staging.pk
    assert users[bob.pk].entry is None  # its row is gone from the report
    assert users[carol.pk].entry is None
    assert (users[alice.pk].name, users[alice.pk].groups) == ("alice", [])
    assert read_users(ids=[]) == {}


def test_roles_carry_their_policies_and_open_findings():
    production = make_account()
    app, idle = iam_role(production, "app", last_used_days=3), iam_role(production, "idle")
    attach(production, app, DOCUMENT, name="inline-one")
    attach(production, app, DOCUMENT, kind="managed", name="managed-one", ref="arn:policy")
    attach(production, app, DOCUMENT, kind="boundary", name="boundary", ref="arn:boundary")
    gone = attach(production, app, DOCUMENT, name="old")
    gone.gone_at = timezone.now()
    gone.save()
    make_finding(production, idle.arn)

    roles = read_roles(ids=[app.pk, idle.pk])
    assert (roles[app.pk].policy_count, roles[app.pk].open_findings) == (2, 0)
    assert (roles[idle.pk].policy_count, roles[idle.pk].open_findings) == (0, 1)
    assert roles[app.pk].last_used_at == app.last_used_at
    assert roles[idle.pk].last_used_at is None
    assert read_roles(ids=[]) == {}


def test_with_something_listening_to_init_the_instances_are_built_by_from_db():
    """Instances are built without __init__ unless a receiver listens to the model's init
    signals: then through from_db, so that it hears each one. Both build the same user."""
    production = make_account()
    alice = iam_user(production, "alice", groups=["admins"])
    credential_entry(production, "alice")
    plain = read_users(ids=[alice.pk])[alice.pk]
    heard = []

    def listener(sender, instance, **kwargs):
        heard.append(type(instance).__name__)

    post_init.connect(listener, sender=IamUser)
    post_init.connect(listener, sender=CredentialReportEntry)
    try:
        built = read_users(ids=[alice.pk])[alice.pk]
    finally:
        post_init.disconnect(listener, sender=IamUser)
        post_init.disconnect(listener, sender=CredentialReportEntry)
    assert sorted(heard) == ["CredentialReportEntry", "IamUser"]
    for user in (plain, built):
        assert (user.pk, user.name, user.groups, user.arn) == (
            alice.pk,
            "alice",
            ["admins"],
            alice.arn,
        )
        assert user.entry.arn == alice.arn and user._state.db == "default"
        assert not user._state.adding
