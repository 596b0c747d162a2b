"""Changes of who may do what are in the audit log with before and after, however they are made:
the Django admin, a command, or code."""

import io

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from accounts.models import User
from accounts.permissions import Capability, Role, can
from findings.audit.verify import verify_chain
from findings.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


def holds_no_password(entry: AuditEntry, *hashes: str) -> bool:
    text = str([entry.actor_label, entry.target_label, entry.before, entry.after])
    return not any(h in text for h in hashes) and not any(
        algorithm in text for algorithm in ("pbkdf2", "argon2", "bcrypt", "md5$", "scrypt")
    )


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


def test_roles_ticked_in_the_admin_are_granted_and_revoked_as_by_the_command(
    login, administrator, reviewer
):
    """The admin only audited: Administrator granted there left is_staff unset (its help text
    says "Set automatically for Administrators"), so the Django admin refused the person, and
    revoked there it left is_staff set."""
    admins = Group.objects.get(name=Role.ADMINISTRATOR.value)
    client = login(administrator)
    form = {
        "email": reviewer.email,
        "full_name": reviewer.full_name,
        "is_active": "on",
        "groups": [admins.pk, *reviewer.groups.values_list("pk", flat=True)],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    response = client.post(f"/admin/accounts/user/{reviewer.pk}/change/", form)
    assert response.status_code == 302, response.content[:3000]
    promoted = User.objects.get(pk=reviewer.pk)
    assert can(promoted, Capability.MANAGE_PEOPLE)
    assert promoted.is_staff, "holds Administrator, yet the Django admin refuses them"

    response = client.post(
        f"/admin/accounts/user/{reviewer.pk}/change/",
        {**form, "is_staff": "on", "groups": [g for g in form["groups"] if g != admins.pk]},
    )
    assert response.status_code == 302
    demoted = User.objects.get(pk=reviewer.pk)
    assert not can(demoted, Capability.MANAGE_PEOPLE) and not demoted.is_staff
    assert [
        (e.action, e.actor, e.after["source"])
        for e in AuditEntry.objects.filter(action__startswith="role.").order_by("id")
        if (e.target_label, e.after["role"]) == (reviewer.email, Role.ADMINISTRATOR.value)
    ] == [
        ("role.granted", administrator, "admin"),
        ("role.revoked", administrator, "admin"),
    ]


def test_unticking_active_in_the_admin_ends_the_persons_tokens_and_sessions(
    login, administrator, reviewer
):
    """As deactivate_user does: the admin only flipped the flag."""
    from django.test import Client

    from accounts.tokens import create_token

    token, _ = create_token(user=reviewer, name="laptop script")
    theirs, someone_elses = Client(), Client()
    theirs.force_login(reviewer)
    someone_elses.force_login(administrator)
    client = login(administrator)
    form = {
        "email": reviewer.email,
        "full_name": reviewer.full_name,
        "groups": list(reviewer.groups.values_list("pk", flat=True)),
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    response = client.post(f"/admin/accounts/user/{reviewer.pk}/change/", form)

    assert response.status_code == 302, response.content[:3000]
    reviewer.refresh_from_db()
    token.refresh_from_db()
    assert not reviewer.is_active and token.revoked_at is not None
    reviewer.is_active = True
    reviewer.save()
    assert theirs.get("/accounts/profile/").status_code == 302
    assert someone_elses.get("/accounts/profile/").status_code == 200
    assert [e.actor for e in entries("user.deactivated")] == [administrator]
    assert [e.actor for e in entries("token.revoked")] == [administrator]
    assert [e.after for e in entries("user.sessions_ended")] == [{"sessions_ended": 1}]
    assert verify_chain().intact


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
        "usable_password": True,
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
    reviewer.refresh_from_db()
    assert holds_no_password(entry, reviewer.password)
    assert entry.after == {"by": administrator.email, "usable_password": True}
    assert entries("user.password_changed") == []


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


class TwoIterationsPBKDF2(PBKDF2PasswordHasher):
    """A hasher whose iterations went up since the stored hashes were made (as they do with
    each Django release), fast enough for tests."""

    iterations = 2


@pytest.fixture
def hashes_made_before_an_upgrade(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.TwoIterationsPBKDF2"]

    def older_hash(user: User) -> str:
        # update(): the stored hash is swapped without a save, as the upgrade would leave it.
        old = TwoIterationsPBKDF2().encode(PASSWORD, "pepper", iterations=1)
        User.objects.filter(pk=user.pk).update(password=old)
        user.refresh_from_db()
        return old

    return older_hash


def test_changing_ones_own_password_on_the_page_records_one_entry_not_the_re_hash_too(
    login, reviewer, hashes_made_before_an_upgrade
):
    """Checking the old password re-hashes it (saved once) before the new one is saved: two
    saves of the password, one change."""
    old = hashes_made_before_an_upgrade(reviewer)

    response = login(reviewer).post(
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
    [entry] = AuditEntry.objects.filter(action__startswith="user.password")
    assert (entry.action, entry.actor, entry.target_label) == (
        "user.password_changed",
        reviewer,
        reviewer.email,
    )
    assert entry.after == {"usable_password": True}
    assert holds_no_password(entry, old, reviewer.password)
    assert verify_chain().intact


def test_the_re_hash_at_login_is_not_a_change_of_password(
    client, reviewer, hashes_made_before_an_upgrade
):
    old = hashes_made_before_an_upgrade(reviewer)
    count = AuditEntry.objects.count()

    response = client.post("/accounts/login/", {"username": reviewer.email, "password": PASSWORD})
    assert response.status_code == 302
    reviewer.refresh_from_db()
    assert reviewer.password != old and reviewer.password.startswith("pbkdf2_sha256$2$")

    hashes_made_before_an_upgrade(reviewer)
    assert async_to_sync(reviewer.acheck_password)(PASSWORD)
    reviewer.refresh_from_db()
    assert reviewer.password.startswith("pbkdf2_sha256$2$")

    assert AuditEntry.objects.count() == count


def test_a_password_assigned_then_re_hashed_is_still_a_change(
    reviewer, hashes_made_before_an_upgrade
):
    """Only a re-hash of the stored password is not a change: a hash put in its place (code
    copying another person's) and then re-hashed by a check is."""
    hashes_made_before_an_upgrade(reviewer)
    reviewer.password = TwoIterationsPBKDF2().encode("someone else's 77", "salt", iterations=1)

    assert reviewer.check_password("someone else's 77")

    [entry] = entries("user.password_changed")
    assert (entry.actor_label, entry.target_label) == ("system", reviewer.email)


def test_changepassword_command_is_recorded(reviewer, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt: "a changed passphrase 57")

    call_command("changepassword", reviewer.email, stdout=io.StringIO())

    reviewer.refresh_from_db()
    assert reviewer.check_password("a changed passphrase 57")
    [entry] = entries("user.password_changed")
    assert (entry.actor, entry.actor_label, entry.target_label) == (None, "system", reviewer.email)
    assert entry.after == {"usable_password": True}
    assert holds_no_password(entry, reviewer.password)
    assert verify_chain().intact


def test_setting_a_password_from_a_shell_is_recorded_and_so_is_taking_it_away(reviewer):
    reviewer.set_password("typed into manage.py shell 31")
    reviewer.save()
    reviewer.set_unusable_password()
    reviewer.save(update_fields=["password"])
    reviewer.save()  # nothing changed since

    changed, removed = entries("user.password_changed")
    assert (changed.actor_label, changed.after) == ("system", {"usable_password": True})
    assert (removed.actor_label, removed.after) == ("system", {"usable_password": False})
    assert holds_no_password(changed, reviewer.password) and holds_no_password(
        removed, reviewer.password
    )
    assert verify_chain().intact


def test_createsuperuser_records_a_person_created_with_a_password(monkeypatch, db):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "the first superuser's 66")

    call_command(
        "createsuperuser", "--noinput", "--email", "root@example.com", stdout=io.StringIO()
    )

    root = User.objects.get(email="root@example.com")
    [created] = entries("user.created")
    assert created.after == {
        "email": root.email,
        "is_active": True,
        "is_staff": True,
        "is_superuser": True,
        "usable_password": True,
    }
    assert holds_no_password(created, root.password)
