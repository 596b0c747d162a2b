"""Exclusion guardrails: one administrator cannot quietly set (nearly) every finding aside.

A reason an auditor can read, no pattern that matches every resource of every account, a
preview of what an exclusion sets aside now, and an explicit confirmation for critical findings.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from findings.detection.detect import detect_account
from findings.detection.exclusions import (
    create_exclusion,
    matches_everything,
    preview_exclusion,
)
from findings.models import AuditEntry, Exclusion, Finding, Source
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    attach,
    findings_of,
    iam_role,
    make_account,
    succeeded_run,
)

pytestmark = pytest.mark.django_db

REASON = "Decommissioning in Q1, ticket OPS-42"


@pytest.fixture
def production():
    """Two unused roles (medium) and an unused full administrator (critical, and medium)."""
    account = make_account()
    succeeded_run(account, Source.AUTHORIZATION_DETAILS, at=timezone.now())
    iam_role(account, "legacy-batch", created_days=2000, tags={"team": "data"})
    iam_role(account, "checkout", created_days=2000, tags={"team": "web"})
    admin = iam_role(account, "legacy-admin", created_days=2000, tags={"team": "data"})
    attach(account, admin, ADMIN_POLICY)
    detect_account(account=account)
    return account


def arguments(administrator, **changes) -> dict:
    return {
        "reason": REASON,
        "owner": administrator,
        "expires_on": timezone.localdate() + timedelta(days=30),
        **changes,
    }


def open_by_severity(**filters) -> dict[str, int]:
    rows = Finding.objects.filter(status=Finding.Status.OPEN, **filters)
    return dict(Counter(rows.values_list("severity", flat=True)))


def excluded_by_severity(exclusion) -> dict[str, int]:
    rows = Finding.objects.filter(status=Finding.Status.EXCLUDED, exclusion=exclusion)
    return dict(Counter(rows.values_list("severity", flat=True)))


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {severity: n for severity, n in counts.items() if n}


# --- A reason an auditor can read -------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "x", "temporary", "  x    y   z  ", "a" * 19])
def test_a_reason_shorter_than_twenty_characters_is_refused(production, administrator, reason):
    with pytest.raises(ValidationError) as refused:
        preview_exclusion(
            kind="account", account=production, **arguments(administrator, reason=reason)
        )
    assert "at least 20 characters" in refused.value.message_dict["reason"][0]


def test_a_reason_of_twenty_characters_is_enough(production, administrator):
    preview = preview_exclusion(
        kind="arn",
        arn_pattern="arn:aws:iam::*:role/checkout",
        **arguments(administrator, reason="Ticket OPS-42: retire"),
    )
    assert preview.total == 1


# --- No pattern that matches everything -------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "arn:*",
        "arn:*:*::*:*",
        "arn:aws:*",
        "arn:aws:iam::*:*",
        "arn:aws:iam::*:*/*",
        "arn:aws:*:*:*:*",
        "arn:???:iam::*:*",
    ],
)
def test_a_pattern_matching_every_resource_of_every_account_is_refused(
    production, administrator, pattern
):
    with pytest.raises(ValidationError) as refused:
        create_exclusion(
            kind="arn", arn_pattern=pattern, created_by=administrator, **arguments(administrator)
        )
    message = refused.value.message_dict["arn_pattern"][0]
    assert "matches every resource of every account" in message
    assert "Whole account" in message and "arn:aws:iam::123456789012:role/legacy-*" in message
    assert not Exclusion.objects.exists()
    assert not AuditEntry.objects.filter(target_type="exclusion").exists()


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:iam::*:role/legacy-*",
        "arn:aws:iam::*:role/*",
        "arn:aws:iam::111122223333:*",
        "arn:aws:iam::*:user/ci-*",
        "arn:aws:s3:::logs-*",
    ],
)
def test_a_pattern_naming_an_account_or_a_resource_is_not_too_broad(pattern):
    assert not matches_everything(pattern=pattern)


@pytest.mark.parametrize(
    "pattern",
    ["arn:aws:*::*:*???????", "arn:aws:iam::*:*???????", "arn:aws:iam::??????????*:*/*?", "*?*"],
)
def test_wildcards_padded_past_the_sample_arns_are_too_broad_all_the_same(pattern):
    assert matches_everything(pattern=pattern)


# --- The preview ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"kind": "arn", "arn_pattern": "arn:aws:iam::*:role/legacy-*"}, "legacy"),
        (
            {
                "kind": "arn",
                "arn_pattern": "arn:aws:iam::*:role/legacy-*",
                "check_id": "full-admin",
            },
            "legacy full-admin",
        ),
        ({"kind": "arn", "arn_pattern": "arn:aws:iam::111122223333:role/[cl]*"}, "all"),
        ({"kind": "arn", "arn_pattern": "arn:aws:iam::999988887777:role/*"}, "none"),
        ({"kind": "account"}, "all"),
        ({"kind": "tag", "tag_key": "team", "tag_value": "data"}, "legacy, no critical"),
        ({"kind": "tag", "tag_key": "team"}, "all, no critical"),
        ({"kind": "tag", "tag_key": "team", "tag_value": "ops"}, "none"),
        ({"kind": "finding"}, "the full-admin finding"),
    ],
)
def test_the_preview_counts_what_the_exclusion_then_sets_aside_by_severity(
    production, administrator, target, expected
):
    target = dict(target)
    if target["kind"] == "account":
        target["account"] = production
    full_admin = findings_of(production, "full-admin").get()
    if target["kind"] == "finding":
        target["finding"] = full_admin
    legacy = Finding.objects.filter(resource_name__startswith="legacy-")
    expected_counts = {
        "legacy": open_by_severity(resource_name__startswith="legacy-"),
        "legacy full-admin": {"critical": 1},
        "all": open_by_severity(),
        "none": {},
        "legacy, no critical": open_by_severity(
            resource_name__startswith="legacy-", severity__in=["high", "medium", "low"]
        ),
        "all, no critical": open_by_severity(severity__in=["high", "medium", "low"]),
        "the full-admin finding": {"critical": 1},
    }[expected]
    assert legacy.filter(severity="critical").exists()  # the fixture has what is counted

    preview = preview_exclusion(**target, **arguments(administrator))
    exclusion = create_exclusion(
        **target,
        **arguments(administrator),
        created_by=administrator,
        critical_confirmed=True,
    )

    assert nonzero(preview.counts) == expected_counts
    assert nonzero(preview.counts) == excluded_by_severity(exclusion)
    assert preview.total == sum(expected_counts.values())
    assert preview.critical == expected_counts.get("critical", 0)


def test_the_preview_counts_only_open_findings(production, administrator):
    checkout = findings_of(production, "role-unused").get(resource_name="checkout")
    Finding.objects.filter(pk=checkout.pk).update(status=Finding.Status.RESOLVED)
    preview = preview_exclusion(
        kind="arn", arn_pattern="arn:aws:iam::*:role/checkout", **arguments(administrator)
    )
    assert preview.total == 0


# --- Critical findings need a confirmation ----------------------------------------------------


def test_setting_a_critical_finding_aside_needs_a_confirmation(production, administrator):
    with pytest.raises(ValidationError) as refused:
        create_exclusion(
            kind="account", account=production, created_by=administrator, **arguments(administrator)
        )
    assert "critical" in refused.value.message_dict["confirm_critical"][0]
    assert not Exclusion.objects.exists()
    assert not AuditEntry.objects.filter(target_type="exclusion").exists()
    assert findings_of(production, "full-admin").get().status == Finding.Status.OPEN


def test_a_confirmed_exclusion_of_criticals_is_audited_with_what_it_set_aside(
    production, administrator
):
    counts = open_by_severity()
    exclusion = create_exclusion(
        kind="account",
        account=production,
        created_by=administrator,
        critical_confirmed=True,
        **arguments(administrator),
    )

    entry = AuditEntry.objects.get(target_type="exclusion", action="exclusion.created")
    assert entry.target_id == str(exclusion.pk)
    assert nonzero(entry.after["set_aside_now"]) == counts
    assert entry.after["set_aside_now"]["critical"] == 1
    assert findings_of(production, "full-admin").get().status == Finding.Status.EXCLUDED


def test_an_exclusion_without_criticals_needs_no_confirmation(production, administrator):
    exclusion = create_exclusion(
        kind="arn",
        arn_pattern="arn:aws:iam::*:role/checkout",
        created_by=administrator,
        **arguments(administrator),
    )
    assert excluded_by_severity(exclusion) == {"medium": 1}


# --- The page: preview, then confirm ----------------------------------------------------------


def form_data(administrator, **changes) -> dict:
    return {
        "kind": "account",
        "reason": REASON,
        "owner": administrator.pk,
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        **changes,
    }


def test_the_form_previews_first_then_needs_the_box_ticked_for_criticals(
    client, production, administrator
):
    client.force_login(administrator)
    data = form_data(administrator, account=production.pk)
    total = sum(open_by_severity().values())

    preview = client.post("/findings/exclusions/new/", data)

    page = preview.content.decode()
    assert preview.status_code == 200 and not Exclusion.objects.exists()
    assert f"It sets <strong>{total} open findings</strong> aside now" in page
    assert '<span class="badge sev-critical">1 critical</span>' in page
    assert 'name="confirm_critical"' in page and "I confirm setting 1 critical finding" in page
    assert f"Exclude {total} findings</button>" in page
    token = preview.context["preview"].token
    assert f'name="previewed" value="{token}"' in page

    unticked = client.post("/findings/exclusions/new/", {**data, "previewed": token})
    assert unticked.status_code == 200 and not Exclusion.objects.exists()
    assert "tick the box to confirm" in unticked.content.decode()

    ticked = client.post(
        "/findings/exclusions/new/", {**data, "previewed": token, "confirm_critical": "on"}
    )
    assert ticked.status_code == 302 and ticked.url == "/findings/exclusions/"
    assert Exclusion.objects.get().kind == "account"
    assert AuditEntry.objects.filter(action="exclusion.created").count() == 1


def test_a_form_changed_after_its_preview_is_previewed_again_not_created(
    client, production, administrator
):
    client.force_login(administrator)
    narrow = form_data(
        administrator, kind="arn", arn_pattern="arn:aws:iam::*:role/checkout", account=""
    )
    token = client.post("/findings/exclusions/new/", narrow).context["preview"].token

    wider = {**narrow, "arn_pattern": "arn:aws:iam::*:role/*", "previewed": token}
    response = client.post("/findings/exclusions/new/", {**wider, "confirm_critical": "on"})

    assert response.status_code == 200 and not Exclusion.objects.exists()
    page = response.content.decode()
    assert "This changed since the last preview" in page
    assert "1 critical" in page and 'name="confirm_critical"' in page


def test_a_preview_without_criticals_is_confirmed_with_the_button_alone(
    client, production, administrator
):
    client.force_login(administrator)
    data = form_data(
        administrator, kind="arn", arn_pattern="arn:aws:iam::*:role/checkout", account=""
    )
    preview = client.post("/findings/exclusions/new/", data)
    page = preview.content.decode()
    assert "confirm_critical" not in page and "Exclude 1 finding</button>" in page

    created = client.post(
        "/findings/exclusions/new/", {**data, "previewed": preview.context["preview"].token}
    )
    assert created.status_code == 302
    assert findings_of(production, "role-unused").get(resource_name="checkout").status == (
        Finding.Status.EXCLUDED
    )


def test_the_walkthrough_exclusion_of_everything_with_reason_x_is_refused(
    client, production, administrator
):
    client.force_login(administrator)
    response = client.post(
        "/findings/exclusions/new/",
        form_data(administrator, kind="arn", arn_pattern="arn:*:*::*:*", reason="x"),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "matches every resource of every account" in page
    assert "at least 20 characters" in page
    assert response.context["preview"] is None
    assert not Exclusion.objects.exists()


def test_the_confirmation_step_requires_the_csrf_token(production, administrator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(administrator)
    response = client.post(
        "/findings/exclusions/new/",
        {**form_data(administrator, account=production.pk), "confirm_critical": "on"},
    )
    assert response.status_code == 403
    assert not Exclusion.objects.exists()
