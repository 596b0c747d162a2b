"""A person's permissions: their own and their roles' (groups'), read in one query."""

from django.contrib.auth.models import Permission

from accounts.models import User
from accounts.permissions import Capability, Role, can, capabilities_of, roles_of
from tests.conftest import make_person


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permission cache yet


def test_every_capability_of_a_page_costs_one_query(db, django_assert_num_queries):
    reviewer = fresh(make_person("rita@example.com", Role.REVIEWER))
    with django_assert_num_queries(1):
        capabilities = capabilities_of(reviewer)
        assert can(reviewer, Capability.DECIDE)
    assert capabilities[Capability.DECIDE.value] and not capabilities[Capability.SIGN_OFF.value]


def test_own_and_role_permissions_are_both_counted(db):
    auditor = make_person("audrey@example.com", Role.AUDITOR)
    assert not can(fresh(auditor), Capability.SIGN_OFF)
    auditor.user_permissions.add(Permission.objects.get(codename=Capability.SIGN_OFF.value))
    person = fresh(auditor)
    assert can(person, Capability.SIGN_OFF) and can(person, Capability.VIEW)
    assert person.get_user_permissions() == {f"accounts.{Capability.SIGN_OFF.value}"}


def test_an_inactive_person_has_no_permission_and_a_superuser_has_all(db):
    reviewer = make_person("rita@example.com", Role.REVIEWER)
    reviewer.is_active = False
    reviewer.save()
    assert fresh(reviewer).get_all_permissions() == set()
    root = User.objects.create(email="root@example.com", is_superuser=True)
    assert len(fresh(root).get_all_permissions()) == Permission.objects.count()


def test_the_sessions_person_and_their_permissions_are_one_query(db, django_assert_num_queries):
    """On PostgreSQL the session's user comes with their permission names (own and roles')."""
    from django.contrib.auth.models import Group

    from accounts.backends import PasswordBackend

    person = make_person("paula@example.com", Role.APPROVER)
    person.user_permissions.add(Permission.objects.get(codename=Capability.EXPORT.value))
    Group.objects.get(name=Role.AUDITOR.value).user_set.add(person)
    from django.db import connection

    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        user = PasswordBackend().get_user(person.pk)
        capabilities = capabilities_of(user)
        if connection.vendor == "postgresql":  # the roles come with the person too
            assert set(roles_of(user)) == {Role.APPROVER, Role.AUDITOR}
    assert set(roles_of(user)) == {Role.APPROVER, Role.AUDITOR}
    assert user == person and user.email == "paula@example.com"
    assert {name for name, held in capabilities.items() if held} == {
        Capability.VIEW.value,
        Capability.SIGN_OFF.value,
        Capability.EXPORT.value,
    }
    assert PasswordBackend().get_user(person.pk + 1000) is None
    assert PasswordBackend().get_user("not-an-id") is None
    person.is_active = False
    person.save()
    assert PasswordBackend().get_user(person.pk) is None


def test_a_role_taken_away_applies_at_the_next_request(client, db):
    from django.contrib.auth.models import Group

    person = make_person("rita@example.com", Role.REVIEWER)
    client.force_login(person)
    assert client.get("/review/").status_code == 200
    Group.objects.get(name=Role.REVIEWER.value).user_set.remove(person)
    assert client.get("/review/").status_code == 403


def test_an_api_token_its_owner_and_their_permissions_are_one_query(db, django_assert_num_queries):
    from django.db import connection

    from accounts.tokens import create_token, revoke_token, user_for_token

    person = make_person("audrey@example.com", Role.AUDITOR)
    token, raw = create_token(user=person, name="pipeline")
    assert user_for_token(raw=raw) == person  # the first use records when (an UPDATE)
    expected = 1 if connection.vendor == "postgresql" else 2
    with django_assert_num_queries(expected):
        owner = user_for_token(raw=raw)
        assert can(owner, Capability.EXPORT) and not can(owner, Capability.DECIDE)
    revoke_token(token=token, actor=person)
    assert user_for_token(raw=raw) is None
    other, other_raw = create_token(user=person, name="other")
    person.is_active = False
    person.save()
    assert user_for_token(raw=other_raw) is None


def test_every_user_column_is_read_as_the_database_gives_it():
    """accounts.backends builds the user from raw values, without fields' converters."""
    from django.db import connection

    for field in User._meta.concrete_fields:
        assert not hasattr(field, "from_db_value"), field.name
        if connection.vendor == "postgresql":  # the only database that path runs on
            column = field.get_col(User._meta.db_table)
            assert not connection.ops.get_db_converters(column), field.name
