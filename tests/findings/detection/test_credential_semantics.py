"""What the credential report's columns mean for the checks that read them.

A credential made in the grace period has not had a chance to be used; a signing certificate is
a credential although AWS records no use of it; a root user without a password or access keys
has nothing that MFA would protect.
"""

from datetime import timedelta
from pathlib import Path

import pytest

from findings.collection.imports import import_file
from findings.detection.detect import detect_account
from findings.models import CollectionRun, CredentialReportEntry, Finding, Source
from tests.findings.detection.test_checks import entry, evidence, run
from tests.findings.detection.test_detect import (
    NOW,
    active_key,
    console_password,
    credential_entry,
    days_ago,
    findings_of,
    make_account,
    succeeded_run,
)

SAMPLES = Path(__file__).parents[1] / "data"


def signing_certificate(n: int = 1, *, uploaded_days: float) -> dict:
    """The credential-report columns of one active X.509 signing certificate."""
    return {
        f"cert_{n}_active": True,
        f"cert_{n}_last_rotated": days_ago(uploaded_days),
        f"cert_{n}_last_rotated_reason": "",
    }


# --- Inactive users: a fresh credential has its grace period ----------------------------------


def test_old_user_whose_only_key_was_made_two_days_ago_is_not_inactive():
    ev = evidence(entries=[entry("rotated", **active_key(created_days=2, used_days=None))])
    assert run("access-key-unused", ev) == []
    assert run("inactive-user", ev) == []


def test_old_user_whose_password_was_set_yesterday_is_not_inactive():
    ev = evidence(entries=[entry("reset", **console_password(used_days=None, changed_days=1))])
    assert run("password-unused", ev) == []
    assert run("inactive-user", ev) == []


@pytest.mark.parametrize(("created_days", "is_finding"), [(60, False), (90, False), (91, True)])
def test_never_used_key_counts_from_its_own_creation_not_the_users(created_days, is_finding):
    ev = evidence(entries=[entry(**active_key(created_days=created_days, used_days=None))])
    assert bool(run("inactive-user", ev)) is is_finding


def test_password_used_long_ago_and_reset_in_the_grace_period_is_not_inactive_yet():
    fields = console_password(used_days=300, changed_days=3)
    ev = evidence(entries=[entry(**fields)])
    assert run("password-unused", ev) == []
    assert run("inactive-user", ev) == []


def test_fresh_key_beside_long_unused_password_keeps_the_user_out_of_inactive():
    fields = console_password(used_days=300) | active_key(created_days=5, used_days=None)
    ev = evidence(entries=[entry(**fields)])
    assert run("inactive-user", ev) == []
    assert [d.check_id for d in run("password-unused", ev)] == ["password-unused"]


def test_key_deactivated_after_recent_use_counts_as_recent_activity():
    fields = console_password(used_days=300) | {
        **active_key(created_days=200, used_days=10),
        "access_key_1_active": False,
    }
    ev = evidence(entries=[entry(**fields)])
    assert run("inactive-user", ev) == []


def test_deactivated_key_last_use_is_shown_as_the_last_activity():
    fields = console_password(used_days=300) | {
        **active_key(created_days=400, used_days=200),
        "access_key_1_active": False,
    }
    [found] = run("inactive-user", evidence(entries=[entry(**fields)]))
    assert found.evidence["last_activity"] == days_ago(200).isoformat()
    assert found.evidence["credentials"] == {
        "password": days_ago(300).isoformat(),
        "access key 1 (deactivated)": days_ago(200).isoformat(),
    }


# --- Signing certificates are credentials -----------------------------------------------------


def test_user_whose_only_credential_is_an_old_signing_certificate_is_inactive():
    [found] = run(
        "inactive-user", evidence(entries=[entry(**signing_certificate(uploaded_days=400))])
    )
    certificate = found.evidence["credentials"]["signing certificate 1"]
    assert days_ago(400).isoformat() in certificate
    assert "AWS does not record" in certificate
    assert found.evidence["last_activity"] is None


@pytest.mark.parametrize(("uploaded_days", "is_finding"), [(5, False), (90, False), (91, True)])
def test_signing_certificate_counts_from_its_upload(uploaded_days, is_finding):
    fields = console_password(used_days=300) | signing_certificate(2, uploaded_days=uploaded_days)
    found = run("inactive-user", evidence(entries=[entry(**fields)]))
    assert bool(found) is is_finding
    if found:
        assert set(found[0].evidence["credentials"]) == {"password", "signing certificate 2"}


def test_inactive_signing_certificate_is_no_credential():
    fields = {**signing_certificate(uploaded_days=400), "cert_1_active": False}
    assert run("inactive-user", evidence(entries=[entry(**fields)])) == []


def test_signing_certificate_is_never_an_access_key_or_password_finding():
    ev = evidence(entries=[entry(**signing_certificate(uploaded_days=400))])
    for check_id in (
        "access-key-unused",
        "access-key-not-rotated",
        "multiple-active-keys",
        "password-unused",
        "console-user-without-mfa",
    ):
        assert run(check_id, ev) == [], check_id


@pytest.fixture
def production(db):
    return make_account("111122223333")


def test_former_contractor_in_the_sample_report_is_an_inactive_user(production):
    """Last active in 2019 with a key since deactivated; an active signing certificate left."""
    import_file(
        account=production,
        kind="credential-report",
        data=(SAMPLES / "credential-report.csv").read_bytes(),
    )

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "inactive-user").get(resource_name="former-contractor")
    assert finding.severity == "high"
    assert finding.evidence["last_activity"] == "2019-01-05T10:00:00+00:00"
    assert finding.evidence["credentials"] == {
        "signing certificate 1": "uploaded 2018-04-02T11:13:00+00:00; AWS does not record its use",
        "access key 1 (deactivated)": "2019-01-05T10:00:00+00:00",
    }
    # bob's credentials were last used in 2025; everyone else is active or new. (Open ones: the
    # import's own detection judged the sample as of the real date, when alice may be inactive.)
    inactive = findings_of(production, "inactive-user").filter(status=Finding.Status.OPEN)
    assert sorted(f.resource_name for f in inactive) == [
        "bob",
        "former-contractor",
    ]


def test_a_report_is_judged_as_of_when_it_was_read_not_at_each_later_detection(production):
    """Credential-report collection failing since, another source's run detects 70 days
    later: root's use resolved as no longer recent and ten findings opened, as if the report
    said anything of those 70 days."""
    run = import_file(
        account=production,
        kind="credential-report",
        data=(SAMPLES / "credential-report.csv").read_bytes(),
    )
    # A saved CSV has no GeneratedTime: the import stamps the real date, which drifts away from
    # the sample's (of late October 2026). Read a month after: root's use then still recent.
    read_at = NOW + timedelta(days=30)
    CollectionRun.objects.filter(pk=run.pk).update(data_generated_at=read_at)
    detect_account(account=production, now=read_at)
    before = set(
        Finding.objects.filter(account=production, status="open").values_list(
            "check_id", "resource_key"
        )
    )
    assert ("root-recent-use", "arn:aws:iam::111122223333:root") in before

    detect_account(account=production, now=read_at + timedelta(days=70))

    after = set(
        Finding.objects.filter(account=production, status="open").values_list(
            "check_id", "resource_key"
        )
    )
    assert after == before


# --- Root MFA protects the root password --------------------------------------------------------


def root(**overrides) -> CredentialReportEntry:
    return entry("<root_account>", **overrides)


def test_root_without_password_or_access_keys_has_no_root_mfa_finding():
    """Centralized root access deleted the member account's root credentials (and its MFA):
    there is no password for MFA to protect, and no way to add MFA without one."""
    ev = evidence(entries=[root(password_enabled=False, password_enabled_reason="")])
    assert run("root-mfa", ev) == []


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="password not_supported (older accounts)"),
        pytest.param({"password_enabled": True, "password_enabled_reason": ""}, id="password"),
        pytest.param(
            {
                "password_enabled": False,
                "password_enabled_reason": "",
                **active_key(created_days=300, used_days=None),
            },
            id="no password but an access key",
        ),
        pytest.param(
            {
                "password_enabled": False,
                "password_enabled_reason": "",
                **active_key(2, created_days=300, used_days=None),
            },
            id="no password but a second access key",
        ),
    ],
)
def test_root_with_a_password_or_a_key_and_no_mfa_is_critical(credentials):
    [found] = run("root-mfa", evidence(entries=[root(**credentials)]))
    assert found.severity in (None, "critical")
    assert found.evidence == {"mfa_active": False}


def test_root_mfa_finding_resolves_when_root_credentials_are_removed(production):
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    row = credential_entry(production, "<root_account>")
    detect_account(account=production, now=NOW)
    assert findings_of(production, "root-mfa").get().status == Finding.Status.OPEN

    CredentialReportEntry.objects.filter(pk=row.pk).update(
        password_enabled=False, password_enabled_reason=""
    )
    detect_account(account=production, now=NOW)

    assert findings_of(production, "root-mfa").get().status == Finding.Status.RESOLVED
