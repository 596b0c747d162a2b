"""Every check at and around its thresholds. Checks are pure: small Evidence in, problems out.

A few cases also go through detect_account, where the evidence is loaded from the database
(groups, attached managed policies, analyzers of other accounts).
"""

from dataclasses import replace

import pytest

from findings.detection.checks import CHECKS, CHECKS_BY_ID, Evidence, Principal, Thresholds
from findings.detection.detect import detect_account
from findings.models import AwsAccount, CredentialReportEntry, IamRole, ServiceLastAccessed, Source
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    NOW,
    active_key,
    analyzer,
    attach,
    console_password,
    credential_entry,
    credential_fields,
    days_ago,
    findings_of,
    iam_group,
    iam_role,
    iam_user,
    make_account,
    service_row,
    succeeded_run,
)

DEFAULTS = Thresholds()


def entry(user: str = "alice", **overrides) -> CredentialReportEntry:
    """An unsaved credential-report row: checks only read its attributes."""
    return CredentialReportEntry(**credential_fields(user, **overrides))


def role(name: str = "app", *, created_days=400, last_used_days=None, **flags) -> IamRole:
    return IamRole(
        arn=f"arn:aws:iam::111122223333:role/{name}",
        name=name,
        path=flags.pop("path", "/"),
        create_date=days_ago(created_days),
        last_used_at=None if last_used_days is None else days_ago(last_used_days),
        tags={},
        **flags,
    )


def principal(name: str = "app", *, documents=(), created_days=400, **flags) -> Principal:
    return Principal(
        arn=f"arn:aws:iam::111122223333:role/{name}",
        name=name,
        kind="role",
        create_date=days_ago(created_days),
        tags={},
        documents=list(documents),
        **flags,
    )


def evidence(
    *, entries=(), roles=(), principals=(), service_access=None, regions=(), analyzers=()
) -> Evidence:
    return Evidence(
        account_id="111122223333",
        now=NOW,
        credential_entries=list(entries),
        principals=list(principals),
        roles=list(roles),
        service_access=service_access or {},
        regions=list(regions),
        analyzer_regions=set(analyzers),
        sources={"credential-report", "authorization-details", "service-last-accessed"},
    )


def run(check_id: str, ev: Evidence, thresholds: Thresholds = DEFAULTS) -> list:
    return list(CHECKS_BY_ID[check_id].run(ev=ev, t=thresholds))


def test_every_check_explains_itself():
    for check in CHECKS:
        assert check.title and check.risk and check.fix and check.control, check.id
        assert check.severity in {"critical", "high", "medium", "low"}, check.id


# --- Access keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(("used_days", "is_finding"), [(44, False), (45, False), (46, True)])
def test_key_last_used_around_the_45_day_threshold(used_days, is_finding):
    ev = evidence(entries=[entry(**active_key(created_days=400, used_days=used_days))])
    found = run("access-key-unused", ev)
    assert bool(found) is is_finding
    if found:
        assert found[0].evidence["why"] == f"last used {days_ago(used_days).date()}"
        assert found[0].resource_key.endswith("#key1")


@pytest.mark.parametrize(
    ("created_days", "is_finding"), [(10, False), (44, False), (45, False), (46, True)]
)
def test_active_key_never_used_is_a_finding_once_older_than_the_threshold(created_days, is_finding):
    ev = evidence(entries=[entry(**active_key(created_days=created_days, used_days=None))])
    found = run("access-key-unused", ev)
    assert bool(found) is is_finding
    if found:
        assert found[0].evidence["why"] == f"never used; created {days_ago(created_days).date()}"
        assert found[0].evidence["last_used"] is None
        assert found[0].evidence["last_used_reason"] == "N/A"


def test_user_without_any_key_has_no_key_finding():
    ev = evidence(entries=[entry()])
    assert run("access-key-unused", ev) == []
    assert run("access-key-not-rotated", ev) == []
    assert run("multiple-active-keys", ev) == []


def test_inactive_old_key_is_not_a_finding():
    fields = active_key(created_days=400, used_days=300) | {"access_key_1_active": False}
    ev = evidence(entries=[entry(**fields)])
    assert run("access-key-unused", ev) == []
    assert run("access-key-not-rotated", ev) == []


@pytest.mark.parametrize(
    ("threshold", "created_days", "is_finding"),
    [
        (7, 10, False),  # past the threshold, but inside the 14-day grace period
        (7, 14, False),
        (7, 15, True),
        (45, 30, False),
    ],
)
def test_grace_period_spares_fresh_keys_even_under_a_short_threshold(
    threshold, created_days, is_finding
):
    rules = Thresholds(unused_credential_days=threshold, grace_days=14)
    ev = evidence(entries=[entry(**active_key(created_days=created_days, used_days=None))])
    assert bool(run("access-key-unused", ev, rules)) is is_finding


@pytest.mark.parametrize(("age", "is_finding"), [(89, False), (90, False), (91, True)])
def test_key_rotation_around_the_90_day_threshold(age, is_finding):
    ev = evidence(entries=[entry(**active_key(created_days=age, used_days=1))])
    found = run("access-key-not-rotated", ev)
    assert bool(found) is is_finding
    if found:  # the age is the last rotation's date, not a count that changes every day
        assert found[0].evidence["last_rotated"] == days_ago(age).isoformat()
        assert "age_days" not in found[0].evidence


def test_second_key_is_its_own_finding():
    fields = active_key(1, created_days=30, used_days=1) | active_key(
        2, created_days=300, used_days=None
    )
    ev = evidence(entries=[entry(**fields)])
    assert [d.resource_key for d in run("access-key-unused", ev)] == [
        "arn:aws:iam::111122223333:user/alice#key2"
    ]
    assert [d.resource_name for d in run("multiple-active-keys", ev)] == ["alice"]


def test_one_active_key_is_not_multiple_keys():
    ev = evidence(entries=[entry(**active_key(created_days=30, used_days=1))])
    assert run("multiple-active-keys", ev) == []


# --- Console passwords ------------------------------------------------------------------------


@pytest.mark.parametrize(("used_days", "is_finding"), [(44, False), (45, False), (46, True)])
def test_password_last_used_around_the_45_day_threshold(used_days, is_finding):
    ev = evidence(entries=[entry(mfa_active=True, **console_password(used_days=used_days))])
    assert bool(run("password-unused", ev)) is is_finding


@pytest.mark.parametrize(("created_days", "is_finding"), [(45, False), (46, True)])
def test_password_never_used_with_no_date_set_counts_from_the_users_creation(
    created_days, is_finding
):
    fields = console_password(used_days=None) | {
        "password_last_changed": None,
        "password_last_changed_reason": "N/A",
    }
    ev = evidence(entries=[entry(user_creation_time=days_ago(created_days), **fields)])
    found = run("password-unused", ev)
    assert bool(found) is is_finding
    if found:
        assert found[0].evidence["password_last_used_reason"] == "no_information"
        assert "never used; the user was created" in found[0].evidence["why"]


@pytest.mark.parametrize(("set_days", "is_finding"), [(20, False), (45, False), (46, True)])
def test_password_never_used_counts_from_when_it_was_set_not_the_users_creation(
    set_days, is_finding
):
    """A user made 400 days ago given a password 20 days ago: the password is 20 days old."""
    fields = console_password(used_days=None, changed_days=set_days)
    ev = evidence(entries=[entry(user_creation_time=days_ago(400), **fields)])
    found = run("password-unused", ev)
    assert bool(found) is is_finding
    if found:
        assert (
            found[0].evidence["why"] == f"not used since it was set {days_ago(set_days):%Y-%m-%d}"
        )


@pytest.mark.parametrize(("changed_days", "is_finding"), [(5, False), (45, False), (46, True)])
def test_password_reset_after_its_last_use_counts_from_the_reset(changed_days, is_finding):
    ev = evidence(entries=[entry(**console_password(used_days=300, changed_days=changed_days))])
    found = run("password-unused", ev)
    assert bool(found) is is_finding
    if found:
        assert "(last used " in found[0].evidence["why"]
    assert bool(run("inactive-user", ev)) is False  # a fresh password is a sign of life


def test_password_changed_before_its_last_use_counts_from_the_use():
    ev = evidence(entries=[entry(**console_password(used_days=60, changed_days=100))])
    (found,) = run("password-unused", ev)
    assert found.evidence["why"].startswith("last used ")


def test_user_without_console_password_has_no_password_finding():
    ev = evidence(entries=[entry()])
    assert run("password-unused", ev) == []
    assert run("console-user-without-mfa", ev) == []


@pytest.mark.parametrize(("mfa", "is_finding"), [(False, True), (True, False)])
def test_console_user_without_mfa(mfa, is_finding):
    ev = evidence(entries=[entry(mfa_active=mfa, **console_password(used_days=1))])
    assert bool(run("console-user-without-mfa", ev)) is is_finding


# --- Inactive users ---------------------------------------------------------------------------


@pytest.mark.parametrize(("used_days", "is_finding"), [(89, False), (90, False), (91, True)])
def test_inactive_user_around_the_90_day_threshold(used_days, is_finding):
    fields = console_password(used_days=used_days) | active_key(created_days=300, used_days=200)
    ev = evidence(entries=[entry(**fields)])
    found = run("inactive-user", ev)
    assert bool(found) is is_finding
    if found:
        assert found[0].evidence["last_activity"] == days_ago(used_days).isoformat()


def test_user_whose_credentials_were_never_used_is_inactive():
    ev = evidence(entries=[entry(**active_key(created_days=300, used_days=None))])
    found = run("inactive-user", ev)
    assert found[0].evidence["credentials"] == {"access key 1": "never used"}
    assert found[0].evidence["last_activity"] is None


def test_new_user_is_not_inactive_and_user_without_credentials_is_not_either():
    fresh = entry(user_creation_time=days_ago(80), **active_key(created_days=80, used_days=None))
    ev = evidence(entries=[fresh, entry("nocreds")])
    assert run("inactive-user", ev) == []


# --- Root -------------------------------------------------------------------------------------


def test_root_access_key_is_critical_and_not_reported_as_an_ordinary_key():
    root = entry("<root_account>", **active_key(created_days=400, used_days=None))
    ev = evidence(entries=[root])
    found = run("root-access-key", ev)
    assert found[0].resource_arn == "arn:aws:iam::111122223333:root"
    assert found[0].evidence["active_keys"] == [1]
    assert CHECKS_BY_ID["root-access-key"].severity == "critical"
    assert run("access-key-unused", ev) == []
    assert run("access-key-not-rotated", ev) == []
    assert run("inactive-user", ev) == []


@pytest.mark.parametrize(("mfa", "is_finding"), [(False, True), (True, False)])
def test_root_without_mfa(mfa, is_finding):
    ev = evidence(entries=[entry("<root_account>", mfa_active=mfa)])
    assert bool(run("root-mfa", ev)) is is_finding
    assert run("console-user-without-mfa", ev) == []


@pytest.mark.parametrize(
    ("used_days", "is_finding"), [(1, True), (89, True), (90, True), (91, False), (None, False)]
)
def test_root_recent_use_within_90_days(used_days, is_finding):
    fields = {"password_last_used": None if used_days is None else days_ago(used_days)}
    ev = evidence(entries=[entry("<root_account>", mfa_active=True, **fields)])
    found = run("root-recent-use", ev)
    assert bool(found) is is_finding
    if found:
        assert "password" in found[0].evidence["used"]


# --- Roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_used_days", "is_finding"), [(89, False), (90, False), (91, True), (None, True)]
)
def test_role_unused_around_the_90_day_threshold(last_used_days, is_finding):
    ev = evidence(roles=[role(last_used_days=last_used_days)])
    found = run("role-unused", ev)
    assert bool(found) is is_finding
    if found and last_used_days is None:
        assert found[0].evidence["why"] == "not used within AWS's tracking window (about 400 days)"


@pytest.mark.parametrize(("read_days_ago", "is_finding"), [(0, True), (2, False), (None, True)])
def test_a_roles_last_use_is_judged_as_of_when_it_was_read(read_days_ago, is_finding):
    """Last used 91 days ago: unused today, but not as of a read two days ago (its use since
    is unknown while collection fails)."""
    ev = evidence(roles=[role(last_used_days=91)])
    if read_days_ago is not None:
        ev = replace(ev, principals_read_at=days_ago(read_days_ago))
    assert bool(run("role-unused", ev)) is is_finding


@pytest.mark.parametrize(("created_days", "is_finding"), [(30, False), (90, False), (91, True)])
def test_new_role_gets_time_before_it_counts_as_unused(created_days, is_finding):
    ev = evidence(roles=[role(created_days=created_days)])
    assert bool(run("role-unused", ev)) is is_finding


def test_service_linked_roles_are_never_unused_role_findings():
    linked = role("AWSServiceRoleForSupport", path="/aws-service-role/", is_service_linked=True)
    ev = evidence(roles=[linked], principals=[principal(is_service_linked=True)])
    assert run("role-unused", ev) == []
    assert run("sso-role-unused", ev) == []


def test_sso_roles_are_their_own_low_severity_kind_with_the_reason():
    sso = role("AWSReservedSSO_Admin_0123", path="/aws-reserved/sso.amazonaws.com/", is_sso=True)
    ev = evidence(roles=[sso])
    assert run("role-unused", ev) == []
    found = run("sso-role-unused", ev)
    assert found[0].check_id == "sso-role-unused"
    check = CHECKS_BY_ID["sso-role-unused"]
    assert check.severity == "low"
    assert "IAM Identity Center" in check.severity_reason


# --- Policies ---------------------------------------------------------------------------------


def test_full_admin_via_an_inline_policy():
    ev = evidence(principals=[principal(documents=[("admin", "inline", ADMIN_POLICY)])])
    found = run("full-admin", ev)
    assert found[0].evidence["grants"][0]["policy"] == "admin"
    assert found[0].evidence["grants"][0]["statement"] == ADMIN_POLICY["Statement"][0]
    assert run("service-wildcard", ev) == []


def test_allow_with_not_action_on_everything_is_full_admin():
    document = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    ev = evidence(principals=[principal(documents=[("almost", "inline", document)])])
    assert run("full-admin", ev)[0].evidence["grants"][0]["kind"] == "not_action_allow"


def test_service_wildcard_is_its_own_finding_not_full_admin():
    document = {
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sqs:Send*"], "Resource": "*"}]
    }
    ev = evidence(principals=[principal(documents=[("data", "inline", document)])])
    assert run("full-admin", ev) == []
    assert run("service-wildcard", ev)[0].evidence["services"] == ["s3"]


def test_allow_everything_on_every_resource_but_a_few_is_full_admin():
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::audit-logs/*"}
        ]
    }
    who = principal(documents=[("almost-everything", "inline", document)])
    ev = evidence(principals=[who])

    [found] = run("full-admin", ev)

    assert ev.effective[who.arn].is_admin
    assert found.severity in (None, "critical")
    grant = found.evidence["grants"][0]
    assert grant["kind"] == "full_admin"
    assert grant["not_resources"] == ["arn:aws:s3:::audit-logs/*"]
    assert run("service-wildcard", ev) == []


def test_allow_all_but_some_actions_on_all_but_some_resources_is_full_admin():
    document = {
        "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": ["arn:aws:s3:::a"]}]
    }
    [found] = run(
        "full-admin", evidence(principals=[principal(documents=[("p", "inline", document)])])
    )
    assert found.evidence["grants"][0]["kind"] == "not_action_allow"
    assert found.evidence["grants"][0]["not_resources"] == ["arn:aws:s3:::a"]


def test_allow_everything_except_on_every_resource_grants_nothing():
    document = {"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "*"}]}
    ev = evidence(principals=[principal(documents=[("nothing", "inline", document)])])
    assert run("full-admin", ev) == []


def test_full_admin_evidence_has_no_not_resources_when_the_statement_has_none():
    ev = evidence(principals=[principal(documents=[("admin", "inline", ADMIN_POLICY)])])
    assert "not_resources" not in run("full-admin", ev)[0].evidence["grants"][0]


READ_REPORTS = {
    "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}
    ]
}


def test_full_admin_policy_under_a_narrow_boundary_is_reported_but_not_critical():
    who = principal(
        documents=[("AdministratorAccess", "managed", ADMIN_POLICY)],
        boundary=("reports-only", READ_REPORTS),
    )
    ev = evidence(principals=[who])

    [found] = run("full-admin", ev)

    assert not ev.effective[who.arn].is_admin
    assert found.severity == "medium"
    assert "reports-only" in found.severity_reason
    assert "boundary" in found.title
    assert found.evidence["boundary"] == {
        "policy": "reports-only",
        "limits_to": ["s3:GetObject"],
        "removable_with": [],
    }
    assert found.evidence["grants"][0]["policy"] == "AdministratorAccess"


def test_full_admin_under_a_boundary_that_allows_everything_stays_critical():
    who = principal(documents=[("admin", "inline", ADMIN_POLICY)], boundary=("open", ADMIN_POLICY))
    [found] = run("full-admin", evidence(principals=[who]))
    assert found.severity in (None, "critical")
    assert "boundary" not in found.evidence


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("role", "iam:DeleteRolePermissionsBoundary"),
        ("role", "iam:PutRolePermissionsBoundary"),
        ("user", "iam:DeleteUserPermissionsBoundary"),
        ("role", "iam:CreatePolicyVersion"),
    ],
)
def test_full_admin_under_a_boundary_it_may_remove_or_rewrite_stays_critical(kind, action):
    boundary = {
        "Statement": READ_REPORTS["Statement"]
        + [{"Effect": "Allow", "Action": action, "Resource": "*"}]
    }
    who = Principal(
        arn=f"arn:aws:iam::111122223333:{kind}/app",
        name="app",
        kind=kind,
        create_date=days_ago(400),
        tags={},
        documents=[("admin", "inline", ADMIN_POLICY)],
        boundary=("leaky", boundary),
    )
    [found] = run("full-admin", evidence(principals=[who]))
    assert found.severity == "critical"
    assert found.evidence["boundary"]["removable_with"] == [action]
    assert "leaky" in found.severity_reason


def test_boundary_on_a_principal_without_an_admin_policy_changes_nothing():
    who = principal(documents=[("read", "inline", READ_REPORTS)], boundary=("b", READ_REPORTS))
    assert run("full-admin", evidence(principals=[who])) == []


def test_service_linked_role_with_admin_is_not_reported():
    admin = [("AWSSupportServiceRolePolicy", "managed", ADMIN_POLICY)]
    ev = evidence(principals=[principal(documents=admin, is_service_linked=True)])
    assert run("full-admin", ev) == []


@pytest.mark.parametrize(("used_days", "is_unused"), [(89, False), (90, False), (91, True)])
def test_unused_services_around_the_90_day_threshold(used_days, is_unused):
    who = principal()
    rows = [
        ServiceLastAccessed(
            service_namespace="s3", service_name="S3", last_authenticated_at=days_ago(2)
        ),
        ServiceLastAccessed(
            service_namespace="dynamodb",
            service_name="DynamoDB",
            last_authenticated_at=days_ago(used_days),
        ),
        ServiceLastAccessed(
            service_namespace="sqs", service_name="SQS", last_authenticated_at=None
        ),
    ]
    found = run("unused-services", evidence(principals=[who], service_access={who.arn: rows}))
    services = [s["service"] for s in found[0].evidence["unused_services"]]
    assert services == (["dynamodb", "sqs"] if is_unused else ["sqs"])


def test_unused_services_are_judged_as_of_when_the_usage_was_read():
    # The principal's job has failed for 30 days: its data shows dynamodb used 70 days
    # before that read. Judged against today it would look 100 days unused.
    who = principal()
    rows = [
        ServiceLastAccessed(
            service_namespace="dynamodb",
            service_name="DynamoDB",
            last_authenticated_at=days_ago(100),
        ),
        ServiceLastAccessed(
            service_namespace="sqs", service_name="SQS", last_authenticated_at=days_ago(125)
        ),
    ]
    ev = evidence(principals=[who], service_access={who.arn: rows})
    ev.service_read_at = {who.arn: days_ago(30)}
    [found] = run("unused-services", ev)
    assert [s["service"] for s in found.evidence["unused_services"]] == ["sqs"]


def test_a_principal_new_when_its_usage_was_read_has_no_unused_services_yet():
    """100 days old today, but 20 days old when its (imported, 80-day-old) usage was read:
    it had no time to use anything then."""
    who = principal(created_days=100)
    rows = [ServiceLastAccessed(service_namespace="sqs", service_name="SQS")]
    ev = evidence(principals=[who], service_access={who.arn: rows})
    ev.service_read_at = {who.arn: days_ago(80)}
    assert run("unused-services", ev) == []


def test_new_principal_has_no_unused_services_yet():
    who = principal(created_days=60)
    rows = [ServiceLastAccessed(service_namespace="sqs", service_name="SQS")]
    assert run("unused-services", evidence(principals=[who], service_access={who.arn: rows})) == []


# --- Access Analyzer coverage -----------------------------------------------------------------


def test_region_without_an_analyzer_is_a_finding():
    ev = evidence(regions=["us-east-1", "eu-west-1"], analyzers=["us-east-1"])
    found = run("access-analyzer-missing", ev)
    assert [d.evidence["region"] for d in found] == ["eu-west-1"]


@pytest.mark.parametrize(
    ("region", "partition"),
    [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")],
)
def test_a_missing_analyzers_arn_is_in_its_regions_partition(region, partition):
    """Exclusions by ARN pattern written for aws-cn never matched arn:aws:... here."""
    (found,) = run("access-analyzer-missing", evidence(regions=[region]))
    assert found.resource_arn == f"arn:{partition}:access-analyzer:{region}:111122223333:analyzer"


# --- Through detection (evidence loaded from the database) ------------------------------------


@pytest.fixture
def production(db):
    account = make_account(regions=["us-east-1", "eu-west-1"])
    for source in Source:
        succeeded_run(account, source)
    return account


def test_full_admin_through_a_group_is_found_on_the_user(production):
    admins = iam_group(production, "admins")
    attach(production, admins, ADMIN_POLICY, name="everything", principal_type="group")
    iam_user(production, "carol", groups=["admins"])

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "full-admin").get()
    assert finding.resource_name == "carol"
    assert finding.evidence["grants"][0]["policy"] == "everything (via group admins)"


def test_full_admin_through_the_aws_managed_administrator_access_policy(production):
    deployer = iam_role(production, "deployer", last_used_days=1)
    attach(
        production,
        deployer,
        ADMIN_POLICY,
        kind="managed",
        name="AdministratorAccess",
        ref="arn:aws:iam::aws:policy/AdministratorAccess",
    )

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "full-admin").get()
    assert finding.resource_arn == deployer.arn
    assert finding.severity == "critical"
    assert finding.evidence["grants"][0]["policy_kind"] == "managed"


def test_never_used_key_through_detection_and_no_key_is_nothing(production):
    credential_entry(production, "old-key", **active_key(created_days=46, used_days=None))
    credential_entry(production, "new-key", **active_key(created_days=10, used_days=None))
    credential_entry(production, "no-key")

    detect_account(account=production, now=NOW)

    assert [f.resource_name for f in findings_of(production, "access-key-unused")] == [
        "old-key (key 1)"
    ]


def test_organization_analyzer_in_another_account_covers_the_region(production):
    management = make_account("999988887777", "Management")
    analyzer(production, "us-east-1")
    analyzer(management, "eu-west-1", kind="ORGANIZATION")

    detect_account(account=production, now=NOW)

    assert not findings_of(production, "access-analyzer-missing").exists()


def in_organization(account, organization: str):
    account.organization_id = organization
    account.save(update_fields=["organization_id"])
    return account


def test_another_organizations_analyzer_does_not_cover_the_region(production):
    """Two organizations registered: the second one's analyzer hid this region's gap."""
    in_organization(production, "o-aaaaaaaaaa")
    other = in_organization(make_account("999988887777", "Other org"), "o-bbbbbbbbbb")
    analyzer(production, "us-east-1")
    analyzer(other, "eu-west-1", kind="ORGANIZATION")

    detect_account(account=production, now=NOW)

    missing = findings_of(production, "access-analyzer-missing").get()
    assert missing.evidence["region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("o-aaaaaaaaaa", "o-aaaaaaaaaa"), ("", "o-aaaaaaaaaa"), ("o-aaaaaaaaaa", "")],
    ids=["same organization", "this account added by hand", "analyzer's account by hand"],
)
def test_organization_analyzer_covers_its_own_or_an_unknown_organization(production, ours, theirs):
    in_organization(production, ours)
    management = in_organization(make_account("999988887777", "Management"), theirs)
    analyzer(production, "us-east-1")
    analyzer(management, "eu-west-1", kind="ORGANIZATION")

    detect_account(account=production, now=NOW)

    assert not findings_of(production, "access-analyzer-missing").exists()


def test_no_organization_analyzer_covers_an_account_in_no_organization(production):
    """A standalone account added by hand: another account's organization analyzer, whose
    organization is not known, was taken to cover it and hid the gap."""
    in_organization(production, AwsAccount.NO_ORGANIZATION)
    management = make_account("999988887777", "Management")
    analyzer(production, "us-east-1")
    analyzer(management, "eu-west-1", kind="ORGANIZATION")

    detect_account(account=production, now=NOW)

    missing = findings_of(production, "access-analyzer-missing").get()
    assert missing.evidence["region"] == "eu-west-1"


def test_region_with_only_an_unused_access_analyzer_is_not_covered(production):
    analyzer(production, "us-east-1")
    analyzer(production, "eu-west-1", kind="ACCOUNT_UNUSED_ACCESS")

    detect_account(account=production, now=NOW)

    missing = findings_of(production, "access-analyzer-missing").get()
    assert missing.evidence == {"region": "eu-west-1"}


@pytest.mark.parametrize("status", ["FAILED", "DISABLED"])
def test_analyzer_that_is_not_active_does_not_cover_its_region(production, status):
    analyzer(production, "us-east-1")
    broken = analyzer(production, "eu-west-1")
    broken.status = status
    broken.save()

    detect_account(account=production, now=NOW)

    missing = findings_of(production, "access-analyzer-missing").get()
    assert missing.evidence["region"] == "eu-west-1"
    assert missing.evidence["analyzers"] == [
        {"name": "account", "arn": broken.arn, "type": "ACCOUNT", "status": status}
    ]
    assert status in missing.evidence["why"]


def test_organization_analyzer_that_failed_does_not_cover_member_regions(production):
    management = make_account("999988887777", "Management")
    analyzer(production, "us-east-1")
    failed = analyzer(management, "eu-west-1", kind="ORGANIZATION")
    failed.status = "FAILED"
    failed.save()

    detect_account(account=production, now=NOW)

    missing = findings_of(production, "access-analyzer-missing").get()
    assert missing.evidence["analyzers"][0]["arn"] == failed.arn


def test_analyzer_being_created_covers_its_region(production):
    """CREATING turns ACTIVE (or FAILED, then reported) within minutes: a finding opened now
    would be resolved by the next collection, noise in a review."""
    analyzer(production, "us-east-1")
    creating = analyzer(production, "eu-west-1")
    creating.status = "CREATING"
    creating.save()

    detect_account(account=production, now=NOW)

    assert not findings_of(production, "access-analyzer-missing").exists()


def test_full_admin_capped_by_a_boundary_through_detection(production):
    capped = iam_role(production, "capped", last_used_days=1)
    attach(production, capped, ADMIN_POLICY, kind="managed", name="AdministratorAccess")
    attach(production, capped, READ_REPORTS, kind="boundary", name="reports-only")

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "full-admin").get()
    assert finding.severity == "medium"
    assert finding.evidence["boundary"]["policy"] == "reports-only"


def test_a_reason_naming_a_long_boundary_is_cut_to_its_column_and_written_once(production):
    """AWS policy names run to 128 characters: the reason overflowed its 300, which failed the
    whole account's detection. Cut before comparing, a second detection writes nothing."""
    leaky = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
    }
    capped = iam_role(production, "capped", last_used_days=1)
    attach(production, capped, ADMIN_POLICY, kind="managed", name="AdministratorAccess")
    attach(production, capped, leaky, kind="boundary", name="b" * 128)

    detect_account(account=production, now=NOW)
    finding = findings_of(production, "full-admin").get()
    assert finding.severity == "critical" and len(finding.severity_reason) == 300

    detect_account(account=production, now=NOW)
    assert findings_of(production, "full-admin").get().last_seen_at == finding.last_seen_at
    assert finding.events.count() == 1  # opened, nothing since


def test_a_boundary_policy_its_principal_may_rewrite_is_a_named_escalation_target(production):
    """A new default version of one's own boundary policy lifts the boundary."""
    boundary_arn = f"arn:aws:iam::{production.account_id}:policy/S3AndIamBoundary"
    boundary = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"}],
    }
    user = iam_user(production, "liftable")
    attach(production, user, ADMIN_POLICY, kind="managed", name="AdministratorAccess")
    attach(production, user, boundary, kind="boundary", name="S3AndIamBoundary", ref=boundary_arn)

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "privilege-escalation").get()
    targets = {t for m in finding.evidence["methods"] for t in m["targets"]}
    assert boundary_arn in targets


def test_unused_services_from_service_last_accessed_rows(production):
    app = iam_role(production, "reporting", last_used_days=1)
    service_row(production, app, "s3", used_days=3)
    service_row(production, app, "dynamodb", used_days=None)

    detect_account(account=production, now=NOW)

    finding = findings_of(production, "unused-services").get()
    assert finding.evidence["unused_services"][0]["service"] == "dynamodb"
    assert finding.evidence["count"] == 1


def test_service_linked_role_is_excluded_and_sso_role_is_low(production):
    iam_role(
        production,
        "AWSServiceRoleForSupport",
        path="/aws-service-role/support.amazonaws.com/",
        is_service_linked=True,
    )
    iam_role(
        production,
        "AWSReservedSSO_ReadOnly_abc",
        path="/aws-reserved/sso.amazonaws.com/",
        is_sso=True,
    )

    detect_account(account=production, now=NOW)

    assert not findings_of(production, "role-unused").exists()
    sso = findings_of(production, "sso-role-unused").get()
    assert sso.severity == "low"
    assert sso.severity_reason.startswith("Managed by IAM Identity Center")
