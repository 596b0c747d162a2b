"""A person's permissions: their own and their roles' (groups'), read in one query."""

from django.contrib.auth.models import Permission

from accounts.models import User
from accounts.permissions import Capability, Role, can, capabilities_of
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
