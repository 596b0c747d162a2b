"""Exclusions: each kind sets findings aside with a reason until it expires or is ended; audited."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from findings.audit.verify import verify_chain
from findings.detection.detect import detect_account
from findings.detection.exclusions import create_exclusion, end_exclusion
from findings.models import AuditEntry, Exclusion, Finding, Source
from tests.at_once import at_once
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    attach,
    findings_of,
    iam_role,
    make_account,
    succeeded_run,
)

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def production():
    account = make_account()
    succeeded_run(account, Source.AUTHORIZATION_DETAILS, at=timezone.now())
    # Created long ago and never used: "role-unused" findings, whatever today is.
    iam_role(account, "legacy-batch", created_days=2000, tags={"team": "data"})
    iam_role(account, "checkout", created_days=2000, tags={"team": "web"})
    detect_account(account=account)
    return account


def unused(account, name: str) -> Finding:
    return findings_of(account, "role-unused").get(resource_name=name)


def exclude(administrator, **arguments) -> Exclusion:
    defaults = {
        "reason": "Decommissioning in Q1, ticket OPS-42",
        "owner": administrator,
        "expires_on": today() + timedelta(days=30),
        "created_by": administrator,
    }
    return create_exclusion(**{**defaults, **arguments})


@pytest.mark.parametrize(
    ("arguments", "excluded"),
    [
        ({"kind": "arn", "arn_pattern": "arn:aws:iam::*:role/legacy-*"}, {"legacy-batch"}),
        ({"kind": "account", "account": "production"}, {"legacy-batch", "checkout"}),
        ({"kind": "tag", "tag_key": "team", "tag_value": "web"}, {"checkout"}),
        ({"kind": "tag", "tag_key": "team"}, {"legacy-batch", "checkout"}),
        ({"kind": "finding", "finding": "legacy-batch"}, {"legacy-batch"}),
    ],
)
def test_each_kind_of_exclusion_sets_its_findings_aside_at_once(
    production, administrator, arguments, excluded
):
    if arguments.get("account") == "production":
        arguments["account"] = production
    if "finding" in arguments:
        arguments["finding"] = unused(production, arguments["finding"])

    exclusion = exclude(administrator, **arguments)

    for name in ("legacy-batch", "checkout"):
        finding = unused(production, name)
        if name in excluded:
            assert finding.status == Finding.Status.EXCLUDED, name
            assert finding.exclusion == exclusion
            assert finding.exclusion_reason == "Decommissioning in Q1, ticket OPS-42"
            assert finding.events.last().kind == "excluded"
        else:
            assert finding.status == Finding.Status.OPEN, name


def test_an_exclusion_for_one_check_leaves_the_others_open(production, administrator):
    role = iam_role(production, "legacy-admin", created_days=2000)
    attach(production, role, ADMIN_POLICY)
    detect_account(account=production)

    exclude(
        administrator,
        kind="arn",
        arn_pattern="arn:aws:iam::*:role/legacy-*",
        check_id="role-unused",
    )

    assert unused(production, "legacy-admin").status == Finding.Status.EXCLUDED
    admin = findings_of(production, "full-admin").get()
    assert admin.status == Finding.Status.OPEN


def test_an_exclusion_for_another_account_does_not_touch_this_one(production, administrator):
    exclude(administrator, kind="arn", arn_pattern="arn:aws:iam::999988887777:role/*")
    assert unused(production, "legacy-batch").status == Finding.Status.OPEN


def test_expired_exclusion_brings_the_finding_back(production, administrator):
    exclusion = exclude(administrator, kind="finding", finding=unused(production, "legacy-batch"))
    on_expiry_day = timezone.now() + timedelta(days=30)

    detect_account(account=production, now=on_expiry_day)
    assert unused(production, "legacy-batch").status == Finding.Status.EXCLUDED

    detect_account(account=production, now=on_expiry_day + timedelta(days=1))

    finding = unused(production, "legacy-batch")
    assert exclusion.expires_on < (on_expiry_day + timedelta(days=1)).date()
    assert finding.status == Finding.Status.OPEN
    assert finding.exclusion is None
    assert finding.exclusion_reason == ""
    assert [e.kind for e in finding.events.all()][-2:] == ["excluded", "included"]


def test_ending_an_exclusion_brings_its_findings_back_at_once(production, administrator):
    exclusion = exclude(administrator, kind="tag", tag_key="team")

    end_exclusion(exclusion=exclusion, ended_by=administrator)

    exclusion.refresh_from_db()
    assert exclusion.ended_at is not None
    assert exclusion.ended_by == administrator
    assert unused(production, "checkout").status == Finding.Status.OPEN


def test_an_exclusion_cannot_end_twice(production, administrator):
    exclusion = exclude(administrator, kind="tag", tag_key="team")
    end_exclusion(exclusion=exclusion, ended_by=administrator)
    with pytest.raises(ValidationError, match="already ended"):
        end_exclusion(exclusion=exclusion, ended_by=administrator)


def test_creating_and_ending_are_audited_with_before_and_after(production, administrator):
    exclusion = exclude(administrator, kind="arn", arn_pattern="arn:aws:iam::*:role/legacy-*")
    end_exclusion(exclusion=exclusion, ended_by=administrator)

    created, ended = AuditEntry.objects.filter(target_type="exclusion").order_by("id")
    assert created.action == "exclusion.created"
    assert created.actor == administrator
    assert created.target_id == str(exclusion.pk)
    assert created.before is None
    assert created.after["reason"] == "Decommissioning in Q1, ticket OPS-42"
    assert created.after["target"] == "arn:aws:iam::*:role/legacy-*"
    assert created.after["expires_on"] == exclusion.expires_on.isoformat()
    assert ended.action == "exclusion.ended"
    assert ended.before["ended_at"] is None
    assert ended.after["ended_at"] is not None
    assert ended.after["ended_by"] == administrator.email
    assert verify_chain().intact


def test_nothing_is_stored_or_audited_when_validation_fails(production, administrator):
    with pytest.raises(ValidationError):
        exclude(administrator, kind="tag", tag_key="team", reason="  ")
    assert not Exclusion.objects.exists()
    assert not AuditEntry.objects.filter(target_type="exclusion").exists()


# --- Validation -------------------------------------------------------------------------------

ARN = {"kind": "arn", "arn_pattern": "arn:aws:iam::*:role/legacy-*"}


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({**ARN, "reason": ""}, "reason", "Say why"),
        ({**ARN, "expires_on": None}, "expires_on", "Every exclusion expires"),
        ({**ARN, "expires_on": "today"}, "expires_on", "in the future"),
        ({**ARN, "expires_on": "yesterday"}, "expires_on", "in the future"),
        ({**ARN, "expires_on": "in 367 days"}, "expires_on", "at most a year"),
        ({**ARN, "owner": None}, "owner", "who answers"),
        ({"kind": "arn", "arn_pattern": ""}, "arn_pattern", "Enter an ARN pattern"),
        ({"kind": "arn", "arn_pattern": "legacy-*"}, "arn_pattern", "does not look like an ARN"),
        ({"kind": "arn", "arn_pattern": "*"}, "arn_pattern", "every resource of every account"),
        ({"kind": "arn", "arn_pattern": "arn:aws:iam::*:role/a b"}, "arn_pattern", "ARN pattern"),
        ({**ARN, "tag_key": "team"}, "tag_key", "Not used for this kind"),
        ({"kind": "account"}, "account", "Choose the account"),
        ({"kind": "tag", "tag_key": ""}, "tag_key", "Enter the tag key"),
        ({"kind": "tag", "tag_key": "team", "arn_pattern": "arn:aws:s3:::x"}, "arn_pattern", ""),
        ({"kind": "finding"}, "finding", "Choose the finding"),
        ({**ARN, "check_id": "no-such-check"}, "check_id", "Unknown check"),
        ({"kind": "bogus"}, "kind", "Choose what to exclude"),
    ],
)
def test_invalid_exclusions_are_refused_with_a_message_per_field(
    production, administrator, arguments, field, message
):
    dates = {
        "today": today(),
        "yesterday": today() - timedelta(days=1),
        "in 367 days": today() + timedelta(days=367),
    }
    if arguments.get("expires_on") in dates:
        arguments = {**arguments, "expires_on": dates[arguments["expires_on"]]}
    with pytest.raises(ValidationError) as refused:
        exclude(administrator, **arguments)
    assert field in refused.value.message_dict
    assert message in refused.value.message_dict[field][0]


def test_a_single_finding_exclusion_takes_no_check(production, administrator):
    with pytest.raises(ValidationError) as refused:
        exclude(
            administrator,
            kind="finding",
            finding=unused(production, "checkout"),
            check_id="role-unused",
        )
    assert "check_id" in refused.value.message_dict


def test_a_year_out_is_accepted(production, administrator):
    exclusion = exclude(administrator, **ARN, expires_on=today() + timedelta(days=365))
    assert exclusion.pk


# --- Pages ------------------------------------------------------------------------------------


def form_data(**changes) -> dict:
    data = {
        "kind": "arn",
        "arn_pattern": "arn:aws:iam::*:role/legacy-*",
        "reason": "Decommissioning in Q1",
        "expires_on": (today() + timedelta(days=30)).isoformat(),
    }
    return {**data, **changes}


def preview_then_confirm(client, data: dict, **confirmation):
    """The form's two steps: the preview, then the same form echoing it."""
    preview = client.post("/findings/exclusions/new/", data)
    assert preview.status_code == 200 and preview.context["preview"] is not None
    return client.post(
        "/findings/exclusions/new/",
        {**data, "previewed": preview.context["preview"].token, **confirmation},
    )


def test_administrator_creates_an_exclusion_and_is_redirected_to_the_list(
    client, production, administrator
):
    client.force_login(administrator)
    page = client.get("/findings/exclusions/new/")
    assert page.status_code == 200
    assert b"New exclusion" in page.content

    preview = client.post("/findings/exclusions/new/", form_data(owner=administrator.pk))
    assert b"It sets <strong>1 open finding</strong> aside now" in preview.content
    assert not Exclusion.objects.exists()
    token = preview.context["preview"].token
    response = client.post(
        "/findings/exclusions/new/",
        form_data(owner=administrator.pk, previewed=token),
        follow=True,
    )

    assert response.redirect_chain == [("/findings/exclusions/", 302)]
    assert b"Decommissioning in Q1" in response.content
    assert unused(production, "legacy-batch").status == Finding.Status.EXCLUDED


def test_excluding_one_finding_from_its_page_returns_to_it(client, production, administrator):
    finding = unused(production, "checkout")
    client.force_login(administrator)
    page = client.get(f"/findings/exclusions/new/?finding={finding.pk}")
    assert b"checkout" in page.content

    response = preview_then_confirm(
        client,
        form_data(kind="finding", arn_pattern="", finding=finding.pk, owner=administrator.pk),
    )

    assert response.status_code == 302
    assert response.url == f"/findings/{finding.pk}/"
    finding.refresh_from_db()
    assert finding.status == Finding.Status.EXCLUDED


def test_form_errors_are_shown_inline_and_nothing_is_stored(client, production, administrator):
    client.force_login(administrator)
    response = client.post(
        "/findings/exclusions/new/",
        form_data(arn_pattern="legacy-*", reason="", owner=administrator.pk),
    )
    assert response.status_code == 200
    assert b"does not look like an ARN pattern" in response.content
    assert b"Say why these findings may be set aside" in response.content
    assert b'value="legacy-*"' in response.content
    assert not Exclusion.objects.exists()


def test_administrator_ends_an_exclusion_from_the_list(client, production, administrator):
    exclusion = exclude(administrator, **ARN)
    client.force_login(administrator)

    response = client.post(f"/findings/exclusions/{exclusion.pk}/end/")

    assert response.status_code == 302
    assert response.url == "/findings/exclusions/"
    exclusion.refresh_from_db()
    assert exclusion.ended_by == administrator
    assert unused(production, "legacy-batch").status == Finding.Status.OPEN


@pytest.mark.parametrize("persona", ["reviewer", "approver", "auditor", "outsider"])
def test_only_administrators_may_create_or_end_exclusions(
    client, production, administrator, persona, request
):
    exclusion = exclude(administrator, **ARN)
    client.force_login(request.getfixturevalue(persona))

    assert client.get("/findings/exclusions/new/").status_code == 403
    assert client.post("/findings/exclusions/new/", form_data()).status_code == 403
    assert client.post(f"/findings/exclusions/{exclusion.pk}/end/").status_code == 403

    assert Exclusion.objects.count() == 1
    exclusion.refresh_from_db()
    assert exclusion.ended_at is None


def test_reviewers_see_the_exclusions_but_no_buttons(client, production, administrator, reviewer):
    exclude(administrator, **ARN)
    client.force_login(reviewer)
    response = client.get("/findings/exclusions/")
    assert response.status_code == 200
    assert b"Decommissioning in Q1, ticket OPS-42" in response.content
    assert b"New exclusion" not in response.content
    assert b"End now" not in response.content


def test_creating_and_ending_require_the_csrf_token(production, administrator):
    exclusion = exclude(administrator, **ARN)
    client = Client(enforce_csrf_checks=True)
    client.force_login(administrator)

    assert client.post("/findings/exclusions/new/", form_data()).status_code == 403
    assert client.post(f"/findings/exclusions/{exclusion.pk}/end/").status_code == 403
    assert Exclusion.objects.count() == 1
    exclusion.refresh_from_db()
    assert exclusion.ended_at is None


def test_an_excluded_finding_shows_its_reason(client, production, administrator, reviewer):
    exclude(administrator, **ARN)
    finding = unused(production, "legacy-batch")
    client.force_login(reviewer)

    page = client.get(f"/findings/{finding.pk}/")

    assert b"Excluded" in page.content
    assert b"Decommissioning in Q1, ticket OPS-42" in page.content
    listed = client.get("/findings/?status=excluded")
    assert b"legacy-batch" in listed.content
    assert b"checkout" not in listed.content


def test_fields_of_the_kinds_not_chosen_are_ignored_by_the_form(client, production, administrator):
    """The page hides them; a finding picked first and then switched to a pattern is no error."""
    client.force_login(administrator)
    finding = unused(production, "checkout")

    response = preview_then_confirm(
        client, form_data(finding=finding.pk, tag_key="team", owner=administrator.pk)
    )

    assert response.status_code == 302
    exclusion = Exclusion.objects.get()
    assert (exclusion.kind, exclusion.finding, exclusion.tag_key) == ("arn", None, "")


def test_ending_from_the_finding_page_returns_to_it(client, production, administrator):
    finding = unused(production, "legacy-batch")
    exclusion = exclude(administrator, kind="finding", finding=finding)
    client.force_login(administrator)
    page = client.get(f"/findings/{finding.pk}/")
    assert b"End the exclusion now" in page.content

    response = client.post(
        f"/findings/exclusions/{exclusion.pk}/end/", {"next": f"/findings/{finding.pk}/"}
    )

    assert response.url == f"/findings/{finding.pk}/"
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "abc", "1", "²"]
)
def test_end_returns_only_to_a_path_of_ours(client, production, administrator, target):
    """Another site never; a bare word (which redirect() takes for a view name: a 500) is
    no path either."""
    exclusion = exclude(administrator, **ARN)
    client.force_login(administrator)
    response = client.post(f"/findings/exclusions/{exclusion.pk}/end/", {"next": target})
    assert response.status_code == 302
    assert response.url == "/findings/exclusions/"


# --- The same exclusion twice -------------------------------------------------------------------


def test_the_same_exclusion_sent_twice_is_one_exclusion(production, administrator):
    """A double click or a retry made two identical exclusions: ending one left its twin in
    force, the findings still set aside while the page said they were back."""
    first = exclude(administrator, kind="arn", arn_pattern="arn:aws:iam::*:role/nothing-*")
    again = exclude(administrator, kind="arn", arn_pattern="arn:aws:iam::*:role/nothing-*")

    assert again.pk == first.pk
    assert Exclusion.objects.count() == 1
    assert AuditEntry.objects.filter(action="exclusion.created").count() == 1


def test_another_exclusion_of_exactly_the_same_scope_is_refused_naming_the_one_in_force(
    production, administrator
):
    exclude(administrator, kind="finding", finding=unused(production, "checkout"))

    with pytest.raises(ValidationError, match="already in force.*End it first"):
        exclude(
            administrator,
            kind="finding",
            finding=unused(production, "checkout"),
            reason="Another reason, written by someone else",
        )
    assert Exclusion.objects.count() == 1

    # Once it ended, a new one is fine.
    end_exclusion(exclusion=Exclusion.objects.get(), ended_by=administrator)
    exclude(administrator, kind="finding", finding=unused(production, "checkout"))
    assert Exclusion.objects.filter(ended_at=None).count() == 1


def test_the_same_exclusion_sent_three_times_at_once_is_one(committed_db, administrator):
    account = make_account()
    role = iam_role(account, "legacy-batch", last_used_days=None)
    succeeded_run(account, Source.AUTHORIZATION_DETAILS)
    detect_account(account=account)
    finding = findings_of(account, "role-unused").get(resource_arn=role.arn)

    made = at_once(*[lambda: exclude(administrator, kind="finding", finding=finding)] * 3)

    assert len(made) == 3 and len({exclusion.pk for exclusion in made}) == 1
    assert Exclusion.objects.count() == 1
