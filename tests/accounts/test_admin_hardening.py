"""The Django admin takes only the lookups its own filters make, and only IAM ARNs as linked
identities (the same rule as the profile page)."""

import pytest
from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.auth.models import Group

from accounts.admin import FilterLookupsOnly
from accounts.models import LinkedIdentity, User
from findings.models import AuditEntry, Webhook

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/?email__regex=(",
        "/admin/accounts/linkedidentity/?arn__regex=(",
        "/admin/auth/group/?name__iregex=[",
        "/admin/findings/webhook/?url__regex=(",
        "/admin/accounts/user/?date_joined__year=99999999999",
        "/admin/accounts/user/?password__startswith=pbkdf2",
    ],
)
def test_a_lookup_no_filter_of_the_changelist_makes_is_refused(login, administrator, url):
    """Any lookup on a model's own fields was accepted: an invalid regular expression or a
    year past what Python's dates hold was a 500, and any column (a password hash) could be
    probed one character at a time."""
    response = login(administrator).get(url)

    assert response.status_code == 400


def test_every_changelist_refuses_a_lookup_its_filters_do_not_make(login, administrator):
    client = login(administrator)
    # django-axes' own admin is left out: administrators hold no permission on it.
    projects = [model for model in admin.site._registry if model._meta.app_label != "axes"]

    for model in projects:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        assert client.get(f"{url}?{model._meta.pk.name}__regex=(").status_code == 400, url


def test_the_login_attempt_admins_refuse_other_lookups_too(client, administrator):
    """django-axes' own changelists (superusers only) answered ?ip_address__regex=( with 500."""
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    axes = [model for model in admin.site._registry if model._meta.app_label == "axes"]
    assert axes

    for model in axes:
        url = f"/admin/axes/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        assert client.get(f"{url}?ip_address__regex=(").status_code == 400, url


def test_the_lookups_the_filters_make_still_work(login, administrator, reviewer):
    webhook = Webhook.objects.create(name="chat", url="https://chat.example.com/hook")
    reviewers = Group.objects.get(name="Reviewer")
    client = login(administrator)

    for url in [
        "/admin/accounts/user/?is_active__exact=1",
        f"/admin/accounts/user/?groups__id__exact={reviewers.pk}",
        "/admin/accounts/user/?groups__isnull=True",
        "/admin/accounts/user/?q=rita",
        "/admin/accounts/user/?o=2",
        "/admin/findings/webhook/?format__exact=json&is_active__exact=0",
        f"/admin/findings/webhookdelivery/?webhook__id__exact={webhook.pk}&status__exact=sent",
        "/admin/findings/webhookdelivery/?event=finding.opened",
        "/admin/accounts/user/?_popup=1&_to_field=id",
    ]:
        assert client.get(url).status_code == 200, url


def test_a_filter_given_a_value_it_cannot_read_is_no_error(login, administrator):
    client = login(administrator)

    for url in [
        "/admin/accounts/user/?groups__id__exact=abc",
        "/admin/findings/webhookdelivery/?webhook__id__exact=99999999999999999999999",
        "/admin/accounts/user/?is_active__exact=maybe",
    ]:
        assert client.get(url).status_code in {200, 302, 400}, url


def test_the_group_admin_is_the_projects_and_still_audits_renames(login, administrator):
    group = Group.objects.create(name="Contractors")
    client = login(administrator)

    response = client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Vendors"})

    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="group.renamed")
    assert (entry.actor, entry.before, entry.after) == (
        administrator,
        {"name": "Contractors"},
        {"name": "Vendors"},
    )


# --- Linked identities: only IAM user and role ARNs, in ASCII -----------------------------------

NOT_IAM_IDENTITIES = [
    "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:user/alice",  # Arabic-Indic digits
    "arn:aws:iam::111122223333:user/ålice",
    "arn:aws:iam::111122223333:user/alice\u200b",  # zero-width space
    "arn:aws:iam::111122223333:group/admins",
    "not an arn",
]


@pytest.mark.parametrize("arn", NOT_IAM_IDENTITIES)
def test_the_profile_refuses_an_arn_with_characters_iam_does_not_use(client, reviewer, arn):
    """`\\d` and `\\w` matched any Unicode digit or letter: an ARN no IAM identity has was
    linked, and segregation of duties then compared against it."""
    client.force_login(reviewer)

    response = client.post("/accounts/profile/identities/", {"arn": arn})

    assert response.status_code == 200
    assert "arn" in response.context["identity_form"].errors
    assert not LinkedIdentity.objects.exists()


@pytest.mark.parametrize("arn", NOT_IAM_IDENTITIES)
def test_the_admin_refuses_a_linked_identity_that_is_not_an_iam_arn(
    login, administrator, reviewer, arn
):
    """The admin's add form took any text as an ARN."""
    response = login(administrator).post(
        "/admin/accounts/linkedidentity/add/", {"user": reviewer.pk, "arn": arn}
    )

    assert response.status_code == 200
    assert "arn" in response.context["adminform"].form.errors
    assert not LinkedIdentity.objects.exists()
    assert not AuditEntry.objects.filter(action="identity.linked").exists()


def test_the_admin_links_an_arn_given_with_spaces_around_it_and_audits_it(
    login, administrator, reviewer
):
    arn = "arn:aws:iam::111122223333:role/ci/deploy"

    response = login(administrator).post(
        "/admin/accounts/linkedidentity/add/", {"user": reviewer.pk, "arn": f"  {arn}  "}
    )

    assert response.status_code == 302, response.content[:2000]
    assert LinkedIdentity.objects.get().arn == arn
    entry = AuditEntry.objects.get(action="identity.linked")
    assert (entry.actor, entry.after) == (administrator, {"arn": arn, "user": reviewer.email})


def test_the_admin_explains_an_identity_already_linked_to_that_person(
    login, administrator, reviewer
):
    arn = "arn:aws:iam::111122223333:user/rita"
    LinkedIdentity.objects.create(user=reviewer, arn=arn)

    response = login(administrator).post(
        "/admin/accounts/linkedidentity/add/", {"user": reviewer.pk, "arn": arn}
    )

    assert response.status_code == 200
    assert LinkedIdentity.objects.count() == 1


class PeopleByDateJoined(FilterLookupsOnly, admin.ModelAdmin):
    date_hierarchy = "date_joined"


@pytest.mark.parametrize(
    "query",
    [
        "date_joined__year=99999999999",  # an OverflowError Django did not catch
        "date_joined__year=9999",  # the year after it does not exist
        "date_joined__year=２０２６",  # fullwidth digits
        "date_joined__year=2026&date_joined__month=1&date_joined__week_day=2",
    ],
)
def test_a_date_hierarchy_takes_only_dates_python_can_hold(rf, administrator, query):
    request = rf.get(f"/admin/accounts/user/?{query}")
    request.user = administrator

    with pytest.raises(DisallowedModelAdminLookup):
        PeopleByDateJoined(User, admin.site).changelist_view(request)


def test_a_date_hierarchy_still_narrows_by_year_month_and_day(rf, administrator):
    request = rf.get(
        "/admin/accounts/user/?date_joined__year=2026&date_joined__month=2&date_joined__day=28"
    )
    request.user = administrator

    assert PeopleByDateJoined(User, admin.site).changelist_view(request).status_code == 200


def test_the_people_list_says_each_ones_roles(
    login, administrator, reviewer, django_assert_max_num_queries
):
    """Who may do what, at a glance: the list had no roles, only a filter by one."""
    client = login(administrator)
    page = client.get("/admin/accounts/user/").content.decode()

    assert '<th scope="col" class="column-roles">' in page
    assert '<td class="field-roles">Reviewer</td>' in page
    # One query for every row's roles, not one per row.
    for n in range(20):
        User.objects.create_user(email=f"person{n}@example.com", password="x" * 20)
    with django_assert_max_num_queries(15):
        client.get("/admin/accounts/user/")


def test_admin_pages_name_the_apps_icon(login, administrator):
    """Without it every admin page asked for /favicon.ico: a 404, and an error in the console."""
    page = login(administrator).get("/admin/accounts/user/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in page
