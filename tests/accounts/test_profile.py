"""The profile page: linked IAM identities (segregation of duties) and personal API tokens."""

import pytest
from django.test import Client

from accounts.models import ApiToken, LinkedIdentity
from accounts.tokens import hash_token, user_for_token
from findings.models import AuditEntry

pytestmark = pytest.mark.django_db

ALICE = "arn:aws:iam::111122223333:user/alice"
DEPLOY = "arn:aws:iam::111122223333:role/ci/deploy"


def test_anyone_logged_in_sees_their_profile_with_identities_and_tokens(client, outsider):
    client.force_login(outsider)
    page = client.get("/accounts/profile/").content.decode()
    assert "Your IAM identities" in page
    assert "Personal API tokens" in page
    assert '<a href="/api/docs">the API\'s documentation</a>' in page  # found from here
    assert "No role yet" in page


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    for url in ("/accounts/profile/", "/accounts/profile/tokens/"):
        assert client.get(url).url.startswith("/accounts/login/")
    assert client.post("/accounts/profile/tokens/", {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("arn", [ALICE, DEPLOY, "arn:aws-us-gov:iam::111122223333:user/bob"])
def test_a_person_links_an_iam_identity_and_the_change_is_audited(client, reviewer, arn):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/identities/", {"arn": f"  {arn} "}, follow=True)
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    assert list(reviewer.linked_identities.values_list("arn", flat=True)) == [arn]
    assert f"Linked {arn} to you." in response.content.decode()
    entry = AuditEntry.objects.get(action="identity.linked")
    assert entry.actor == reviewer and entry.after == {"arn": arn, "user": reviewer.email}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::1111:user/alice",  # not 12 digits
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:s3:::bucket",
        "alice",
        "",
    ],
)
def test_an_arn_that_is_not_an_iam_user_or_role_is_refused_next_to_the_field(client, reviewer, arn):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/identities/", {"arn": arn})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="identity-arn_error"' in page
    assert not LinkedIdentity.objects.exists()
    assert not AuditEntry.objects.filter(target_type="linked_identity").exists()


def test_linking_the_same_identity_twice_is_explained(client, reviewer):
    LinkedIdentity.objects.create(user=reviewer, arn=ALICE)
    client.force_login(reviewer)
    response = client.post("/accounts/profile/identities/", {"arn": ALICE})
    assert "already linked to you" in response.content.decode()
    assert LinkedIdentity.objects.count() == 1


def test_a_reviewer_cannot_unlink_their_own_identity_to_escape_segregation_of_duties(
    client, reviewer
):
    mine = LinkedIdentity.objects.create(user=reviewer, arn=ALICE)
    client.force_login(reviewer)
    response = client.post(f"/accounts/profile/identities/{mine.pk}/remove/")
    assert response.status_code == 403
    assert "You cannot remove an IAM identity linked to you" in response.content.decode()
    assert list(LinkedIdentity.objects.all()) == [mine]
    assert not AuditEntry.objects.filter(action="identity.unlinked").exists()


def test_an_administrator_and_reviewer_cannot_remove_their_own_link_and_then_decide_about_it(
    client, administrator
):
    """The bypass: someone both Administrator and Reviewer unlinks themselves, then decides."""
    from accounts.people import grant_role
    from accounts.permissions import Role

    grant_role(user=administrator, role=Role.REVIEWER)
    mine = LinkedIdentity.objects.create(user=administrator, arn=ALICE)
    client.force_login(administrator)

    response = client.post(f"/accounts/profile/identities/{mine.pk}/remove/")

    assert response.status_code == 403
    assert list(LinkedIdentity.objects.all()) == [mine]
    assert "Unlink" not in client.get("/accounts/profile/").content.decode()


def test_nobody_removes_someone_elses_link_from_their_own_profile(
    client, administrator, second_reviewer
):
    theirs = LinkedIdentity.objects.create(user=second_reviewer, arn=DEPLOY)
    client.force_login(administrator)
    response = client.post(f"/accounts/profile/identities/{theirs.pk}/remove/")
    assert response.status_code == 404


def test_another_administrator_removes_a_link_in_the_admin_and_it_is_audited(
    client, administrator, second_reviewer
):
    theirs = LinkedIdentity.objects.create(user=second_reviewer, arn=DEPLOY)
    client.force_login(administrator)
    listing = client.get("/admin/accounts/linkedidentity/")
    assert listing.status_code == 200 and DEPLOY in listing.content.decode()

    response = client.post(f"/admin/accounts/linkedidentity/{theirs.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not LinkedIdentity.objects.exists()
    entry = AuditEntry.objects.get(action="identity.unlinked")
    assert entry.actor == administrator
    assert entry.before == {"arn": DEPLOY, "user": second_reviewer.email}


def test_an_administrator_cannot_remove_their_own_link_in_the_admin_either(client, administrator):
    mine = LinkedIdentity.objects.create(user=administrator, arn=ALICE)
    client.force_login(administrator)

    response = client.post(f"/admin/accounts/linkedidentity/{mine.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    response = client.post(
        "/admin/accounts/linkedidentity/",
        {"action": "delete_selected", "_selected_action": [mine.pk], "post": "yes"},
    )
    assert list(LinkedIdentity.objects.all()) == [mine]
    assert not AuditEntry.objects.filter(action="identity.unlinked").exists()


def test_an_administrator_links_an_identity_to_someone_in_the_admin_and_it_is_audited(
    client, administrator, second_reviewer
):
    client.force_login(administrator)
    response = client.post(
        "/admin/accounts/linkedidentity/add/", {"user": second_reviewer.pk, "arn": DEPLOY}
    )
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(action="identity.linked")
    assert entry.actor == administrator
    assert entry.after == {"arn": DEPLOY, "user": second_reviewer.email}


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/tokens/", {"name": "release pipeline"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "Copy it now: it is shown this once." in page
    raw = page.split('id="new-token" class="token-value" value="')[1].split('"')[0]
    assert raw.startswith("iamr_") and len(raw) > 30

    token = ApiToken.objects.get()
    assert token.user == reviewer and token.name == "release pipeline"
    assert token.token_hash == hash_token(raw)
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert not any(raw in value for value in stored)
    assert user_for_token(raw) == reviewer

    profile = client.get("/accounts/profile/").content.decode()
    assert raw not in profile
    assert "<td>release pipeline</td>" in profile and f"<code>{token.prefix}…</code>" in profile
    assert AuditEntry.objects.get(action="token.created").actor == reviewer


def test_the_same_token_form_sent_again_creates_no_second_token(client, reviewer):
    """A reload of the page that showed the token posts the form again: no second token."""
    import re

    client.force_login(reviewer)
    profile = client.get("/accounts/profile/").content.decode()
    form_id = re.search(r'name="form_id" value="([^"]+)"', profile).group(1)
    sent = {"name": "ci pipeline", "form_id": form_id}
    assert "Copy it now" in client.post("/accounts/profile/tokens/", sent).content.decode()

    again = client.post("/accounts/profile/tokens/", sent, follow=True)
    assert ApiToken.objects.count() == 1
    assert "the token “ci pipeline” was created then and shown once" in again.content.decode()
    # The same form with another name (shown again with Back, then edited) is a new token.
    renamed = {"name": "deploys", "form_id": form_id}
    assert "Copy it now" in client.post("/accounts/profile/tokens/", renamed).content.decode()
    # ...itself made once: reloading the page that showed it makes no third.
    for _ in range(3):
        client.post("/accounts/profile/tokens/", renamed)
    assert sorted(ApiToken.objects.values_list("name", flat=True)) == ["ci pipeline", "deploys"]
    ApiToken.objects.filter(name="deploys").delete()
    assert "no-store" in client.get("/accounts/profile/")["Cache-Control"]
    # A new form (the profile page shown again) creates another, as asked.
    fresh = re.search(
        r'name="form_id" value="([^"]+)"', client.get("/accounts/profile/").content.decode()
    ).group(1)
    assert fresh != form_id
    client.post("/accounts/profile/tokens/", {"name": "second", "form_id": fresh})
    assert ApiToken.objects.count() == 2


def test_a_token_needs_a_name(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/tokens/", {"name": "  "})
    assert 'id="token-name_error"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_person_revokes_their_own_token_but_not_someone_elses(client, reviewer, second_reviewer):
    from accounts.tokens import create_token

    mine, raw = create_token(user=reviewer, name="laptop")
    theirs, _ = create_token(user=second_reviewer, name="theirs")
    client.force_login(reviewer)
    assert client.post(f"/accounts/profile/tokens/{theirs.pk}/revoke/").status_code == 404
    response = client.post(f"/accounts/profile/tokens/{mine.pk}/revoke/", follow=True)
    assert "Revoked the token “laptop”. It no longer works." in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert user_for_token(raw) is None
    assert "Revoked" in client.get("/accounts/profile/").content.decode()
    assert AuditEntry.objects.filter(action="token.revoked").count() == 1


def test_profile_changes_need_a_csrf_token(reviewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    assert client.post("/accounts/profile/identities/", {"arn": ALICE}).status_code == 403
    assert client.post("/accounts/profile/tokens/", {"name": "x"}).status_code == 403
    assert not LinkedIdentity.objects.exists() and not ApiToken.objects.exists()
    page = client.get("/accounts/profile/").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') == page.count('method="post"')


def test_the_profile_pages_only_accept_the_methods_they_serve(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/accounts/profile/tokens/").status_code == 405
    assert client.get("/accounts/profile/identities/").status_code == 405
    assert client.post("/accounts/profile/").status_code == 405


def test_the_database_refuses_a_second_token_from_the_same_form(reviewer):
    """Two requests at the same moment both pass the view's look-up: the constraint decides,
    and the view answers the loser with the token the winner made."""
    from django.db import IntegrityError

    from accounts.tokens import create_token

    create_token(user=reviewer, name="ci", form_id="abc")
    with pytest.raises(IntegrityError):
        create_token(user=reviewer, name="ci", form_id="abc")
    create_token(user=reviewer, name="other", form_id="")  # no form: no constraint
    create_token(user=reviewer, name="other again", form_id="")
    assert ApiToken.objects.filter(user=reviewer).count() == 3


def test_a_person_without_a_role_gets_no_api_token(client, outsider):
    """Every API call would answer 403: a token of no use, and one more secret about."""
    client.force_login(outsider)
    page = client.get("/accounts/profile/").content.decode()
    assert "you hold none yet" in page and "Create token" not in page
    response = client.post("/accounts/profile/tokens/", {"name": "ci"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_a_superuser_without_role_groups_may_create_a_token(client):
    """Django grants a superuser every permission, so every API call works for them: the
    profile lets them make a token, as `manage.py api_token` does."""
    from accounts.models import User

    boss = User.objects.create_superuser(email="boss@example.com", password="x" * 20)
    client.force_login(boss)
    assert "Create token" in client.get("/accounts/profile/").content.decode()
    response = client.post("/accounts/profile/tokens/", {"name": "ci"})
    assert response.status_code == 200 and ApiToken.objects.filter(user=boss).count() == 1
