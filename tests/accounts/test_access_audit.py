"""Changes of who may do what are in the audit log with before and after, however they are made:
the Django admin, a command, or code."""

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from accounts.models import User
from accounts.permissions import Role
from findings.audit.verify import verify_chain
from findings.models import AuditEntry

pytestmark = pytest.mark.django_db


def entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


def test_adding_a_permission_to_a_role_group_in_the_admin_is_recorded(login, administrator):
    reviewers = Group.objects.get(name=Role.REVIEWER.value)
    before = sorted(f"{p.content_type.app_label}.{p.codename}" for p in reviewers.permissions.all())
    extra = Permission.objects.get(codename="change_user")
    client = login(administrator)

    response = client.post(
        f"/admin/auth/group/{reviewers.pk}/change/",
        {
            "name": reviewers.name,
            "permissions": [*reviewers.permissions.values_list("pk", flat=True), extra.pk],
        },
    )

    assert response.status_code == 302, response.content[:2000]
    [entry] = entries("group.permissions_changed")
    assert (entry.actor, entry.target_label) == (administrator, Role.REVIEWER.value)
    assert entry.before == {"permissions": before}
    assert entry.after == {"permissions": sorted([*before, "accounts.change_user"])}
    assert verify_chain().intact


def test_adding_and_removing_a_person_from_a_group_in_the_admin_is_recorded(
    login, administrator, reviewer
):
    approvers = Group.objects.get(name=Role.APPROVER.value)
    client = login(administrator)
    form = {
        "email": reviewer.email,
        "full_name": reviewer.full_name,
        "is_active": "on",
        "groups": [approvers.pk, *reviewer.groups.values_list("pk", flat=True)],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    response = client.post(f"/admin/accounts/user/{reviewer.pk}/change/", form)
    assert response.status_code == 302, response.content[:3000]
    response = client.post(
        f"/admin/accounts/user/{reviewer.pk}/change/", {**form, "groups": [approvers.pk]}
    )
    assert response.status_code == 302

    added, removed = [e for e in entries("user.groups_changed") if e.actor == administrator]
    assert added.before == {"groups": ["Reviewer"]}
    assert added.after == {"groups": ["Approver", "Reviewer"]}
    assert removed.before == {"groups": ["Approver", "Reviewer"]}
    assert removed.after == {"groups": ["Approver"]}


def test_creating_a_user_by_command_and_deactivating_them_are_recorded(administrator):
    call_command("create_user", "carl@example.com", "--role", "auditor", stdout=io.StringIO())
    carl = User.objects.get(email="carl@example.com")

    [created] = [e for e in entries("user.created") if e.target_label == carl.email]
    assert created.actor is None and created.actor_label == "system"
    assert created.after == {
        "email": carl.email,
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
    }
    [joined] = [e for e in entries("user.groups_changed") if e.target_label == carl.email]
    assert (joined.before, joined.after) == ({"groups": []}, {"groups": ["Auditor"]})

    carl.is_active = False
    carl.save()

    [deactivated] = entries("user.deactivated")
    assert (deactivated.before, deactivated.after) == ({"is_active": True}, {"is_active": False})


def test_adding_a_person_from_the_groups_side_is_recorded_on_the_group(reviewer):
    auditors = Group.objects.get(name=Role.AUDITOR.value)

    auditors.user_set.add(reviewer)

    [entry] = entries("group.members_changed")
    assert entry.target_label == Role.AUDITOR.value
    assert entry.after == {"user_set": [reviewer.email]}


def test_giving_and_taking_a_permission_from_its_own_side_is_recorded_on_each_holder(
    reviewer, approver
):
    """permission.user_set.add(user) gave a reviewer manage-people rights, and
    permission.group_set.add(group) a role sign-off rights, with no audit entry."""
    manage = Permission.objects.get(codename="manage_people")
    sign_off = Permission.objects.get(codename="sign_off_cycles")
    auditors = Group.objects.get(name=Role.AUDITOR.value)

    manage.user_set.add(reviewer, approver)
    sign_off.group_set.add(auditors)
    manage.user_set.remove(approver)
    sign_off.group_set.clear()

    users = entries("user.permissions_changed")
    assert [(e.target_label, e.after) for e in users] == [
        (reviewer.email, {"user_permissions": ["accounts.manage_people"]}),
        (approver.email, {"user_permissions": ["accounts.manage_people"]}),
        (approver.email, {"user_permissions": []}),
    ]
    given, *cleared = entries("group.permissions_changed")
    assert given.target_label == Role.AUDITOR.value
    assert "accounts.sign_off_cycles" in given.after["permissions"]
    # clear() takes it from every role holding it: the Approver role too
    assert {e.target_label for e in cleared} == {Role.AUDITOR.value, Role.APPROVER.value}
    assert all("accounts.sign_off_cycles" not in e.after["permissions"] for e in cleared)
    assert verify_chain().intact


def test_logging_in_and_saving_other_fields_record_nothing(client, reviewer):
    count = AuditEntry.objects.count()
    client.force_login(reviewer)
    reviewer.full_name = "Rita R."
    reviewer.save(update_fields=["full_name"])

    assert AuditEntry.objects.count() == count


def test_revoking_a_role_and_deactivating_by_command_are_recorded(reviewer):
    call_command("revoke_role", reviewer.email, "reviewer", stdout=io.StringIO())
    call_command("deactivate_user", reviewer.email, stdout=io.StringIO())

    [left] = [e for e in entries("user.groups_changed") if e.before == {"groups": ["Reviewer"]}]
    assert left.after == {"groups": []}
    assert entries("role.revoked")[0].target_label == reviewer.email
    [deactivated] = entries("user.deactivated")
    assert (deactivated.before, deactivated.after) == ({"is_active": True}, {"is_active": False})
    reviewer.refresh_from_db()
    assert not reviewer.is_active
    assert verify_chain().intact


def test_renaming_and_deleting_a_group_in_the_admin_record_who_lost_what(
    login, administrator, reviewer
):
    """Role names are what iamreview reads: a renamed role group changes what its members may
    do. A deleted group takes its members' access with it, without a membership signal."""
    extra = Group.objects.create(name="Tmp")
    extra.permissions.add(Permission.objects.get(codename="change_user"))
    extra.user_set.add(reviewer)
    auditors = Group.objects.get(name=Role.AUDITOR.value)
    client = login(administrator)

    granted = list(auditors.permissions.values_list("pk", flat=True))
    renamed = client.post(
        f"/admin/auth/group/{auditors.pk}/change/",
        {"name": "Auditor-renamed", "permissions": granted},
    )
    assert renamed.status_code == 302
    [entry] = entries("group.renamed")
    assert (entry.actor, entry.before, entry.after) == (
        administrator,
        {"name": Role.AUDITOR.value},
        {"name": "Auditor-renamed"},
    )

    deleted = client.post(f"/admin/auth/group/{extra.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    [entry] = entries("group.deleted")
    assert entry.before == {
        "name": "Tmp",
        "members": [reviewer.email],
        "permissions": ["accounts.change_user"],
    }
    assert verify_chain().intact


def test_an_administrator_setting_someone_elses_password_is_recorded(
    login, administrator, reviewer, client
):
    admin_client = login(administrator)
    response = admin_client.post(
        f"/admin/accounts/user/{reviewer.pk}/password/",
        {"password1": "a new long passphrase 42", "password2": "a new long passphrase 42"},
    )
    assert response.status_code == 302, response.content[:2000]
    [entry] = entries("user.password_set")
    assert (entry.actor, entry.target_label) == (administrator, reviewer.email)
    assert "pbkdf2" not in str(entry.after) and "argon2" not in str(entry.after)
    # A person's own change of password is not access changing hands.
    reviewer.refresh_from_db()
    reviewer.set_password("yet another passphrase 43")
    reviewer.save()
    assert len(entries("user.password_set")) == 1


def test_deleting_a_person_records_the_roles_tokens_and_identities_they_took_with_them(
    approver,
):
    """The cascade removed their API token and linked identity, and the entry named only
    four flags: nothing said what access went with them."""
    from accounts.models import LinkedIdentity
    from accounts.tokens import create_token

    create_token(user=approver, name="pipeline")
    LinkedIdentity.objects.create(user=approver, arn="arn:aws:iam::111122223333:user/ann")

    approver.delete()

    [deleted] = entries("user.deleted")
    assert deleted.before["groups"] == [Role.APPROVER.value]
    assert [t.split(" (")[0] for t in deleted.before["api_tokens"]] == ["pipeline"]
    assert deleted.before["linked_identities"] == ["arn:aws:iam::111122223333:user/ann"]
    assert verify_chain().intact
