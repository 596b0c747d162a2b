"""One person per email address, whatever its case: login matches addresses case-insensitively,
so two accounts whose addresses differ only in case made every login for that address a 500."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from findings.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

BEFORE_THE_CONSTRAINT = ("accounts", "0009_linked_identity_plural")
THE_CONSTRAINT = ("accounts", "0010_user_email_unique_ignoring_case")


def change_form(user: User, **changes) -> dict:
    form = {
        "email": user.email,
        "full_name": user.full_name,
        "is_active": "on",
        "groups": list(user.groups.values_list("pk", flat=True)),
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    return {**form, **changes}


def test_the_admin_add_form_refuses_an_email_that_differs_only_in_case(
    login, administrator, reviewer
):
    """The add form accepted REVIEWER@… beside reviewer@…; every login for it was then a 500."""
    client = login(administrator)

    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": reviewer.email.upper(),
            "usable_password": "true",
            "password1": "another horse battery 7",
            "password2": "another horse battery 7",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [
        "A person with this email address already exists (addresses are compared "
        "regardless of case)."
    ]
    assert User.objects.filter(email__iexact=reviewer.email).count() == 1


def test_the_admin_change_form_refuses_an_email_that_differs_only_in_case(
    login, administrator, reviewer, outsider
):
    """Changing an existing person's email to another's in capitals was accepted too."""
    client = login(administrator)

    response = client.post(
        f"/admin/accounts/user/{outsider.pk}/change/",
        change_form(outsider, email=reviewer.email.title()),
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    outsider.refresh_from_db()
    assert outsider.email == "nina.norole@example.com"


def test_the_admin_stores_email_addresses_in_lower_case_and_audits_the_change(
    login, administrator, outsider
):
    client = login(administrator)

    added = client.post(
        "/admin/accounts/user/add/",
        {
            "email": " Carl.Clerk@Example.COM ",
            "usable_password": "true",
            "password1": "another horse battery 7",
            "password2": "another horse battery 7",
        },
    )
    changed = client.post(
        f"/admin/accounts/user/{outsider.pk}/change/",
        change_form(outsider, email="Nina.Renamed@Example.com"),
    )

    assert (added.status_code, changed.status_code) == (302, 302)
    assert User.objects.filter(email="carl.clerk@example.com").exists()
    outsider.refresh_from_db()
    assert outsider.email == "nina.renamed@example.com"
    entry = AuditEntry.objects.get(action="user.changed", target_id=outsider.pk)
    assert entry.actor == administrator
    assert entry.before == {"email": "nina.norole@example.com"}
    assert entry.after == {"email": "nina.renamed@example.com"}


def test_the_admin_keeps_a_persons_own_email_when_saving_other_changes(
    login, administrator, reviewer
):
    client = login(administrator)

    response = client.post(
        f"/admin/accounts/user/{reviewer.pk}/change/",
        change_form(reviewer, full_name="Rita Reviewer"),
    )

    assert response.status_code == 302, response.content[:2000]
    reviewer.refresh_from_db()
    assert (reviewer.email, reviewer.full_name) == ("rita.reviewer@example.com", "Rita Reviewer")


def test_the_database_refuses_an_email_that_differs_only_in_case(reviewer):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email=reviewer.email.upper())


@pytest.fixture
def case_duplicates(reviewer):
    """Two accounts whose addresses differ only in case, as a database from before the
    constraint may hold (the constraint is dropped for this test's transaction only)."""
    constraint = next(
        c for c in User._meta.constraints if c.name == "user_email_unique_ignoring_case"
    )
    with connection.schema_editor() as editor:
        editor.remove_constraint(User, constraint)
    twin = User.objects.create_user("placeholder@example.com", PASSWORD)
    User.objects.filter(pk=twin.pk).update(email=reviewer.email.upper())
    return reviewer, User.objects.get(pk=twin.pk)


def test_two_accounts_differing_only_in_case_make_a_failed_login_not_an_error(
    client, case_duplicates
):
    """get(email__iexact=…) raised MultipleObjectsReturned: a 500 for every login."""
    reviewer, twin = case_duplicates

    for spelling in (reviewer.email, twin.email):
        response = client.post("/accounts/login/", {"username": spelling, "password": PASSWORD})
        assert response.status_code == 200
        assert b"enter a correct email and password" in response.content


def test_the_natural_key_of_an_ambiguous_address_names_no_one(case_duplicates):
    reviewer, _ = case_duplicates

    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key(reviewer.email)


def test_the_natural_key_finds_a_person_by_any_case_of_their_address(reviewer):
    assert User.objects.get_by_natural_key(reviewer.email.upper()) == reviewer


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_the_addresses_that_differ_only_in_case(postgres):
    """Existing duplicates made the migration stop with an IntegrityError that named none."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE_THE_CONSTRAINT])
    users = executor.loader.project_state([BEFORE_THE_CONSTRAINT]).apps.get_model(
        "accounts", "User"
    )
    try:
        for email in ("ada@example.com", "ADA@example.com", "Bob@Example.com", "bob@example.com"):
            users.objects.create(email=email, password="!")
        users.objects.create(email="carl@example.com", password="!")

        executor.loader.build_graph()
        with pytest.raises(RuntimeError) as refused:
            executor.migrate([THE_CONSTRAINT])

        message = str(refused.value)
        for email in ("ada@example.com", "ADA@example.com", "Bob@Example.com", "bob@example.com"):
            assert email in message
        assert "carl@example.com" not in message
    finally:
        users.objects.all().delete()
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
