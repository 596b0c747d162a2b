"""Gaps a review found in right-sizing: wildcards the action database cannot expand, removed
services that nothing removes, size limits on policies iamreview does not write, and policies
whose document is unknown."""

from datetime import UTC, datetime, timedelta

import pytest

from findings.models import PolicyAttachment
from findings.policy import actions
from findings.policy.grants import GrantedPolicy
from findings.reviews.plans import check_against_plan
from findings.rightsizing.engine import (
    MemberUse,
    Principal,
    ServiceUsage,
    combined_use,
    suggest,
)
from findings.rightsizing.plans import compare_with_plan, remediation_plan
from findings.rightsizing.selectors import suggestion_for
from findings.rightsizing.undocumented import UndocumentedPolicy
from findings.rightsizing.validation import grammar_issues, validate
from tests.findings.detection.test_detect import NOW as DETECT_NOW
from tests.findings.detection.test_detect import (
    attach,
    iam_role,
    make_account,
    observed,
    service_row,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
ACCOUNT = "111122223333"
ROLE = Principal(arn=f"arn:aws:iam::{ACCOUNT}:role/app", name="app", kind="role", created=OLD)
ALICE = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", name="alice", kind="user", created=OLD)
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess"


def ago(days):
    return NOW - timedelta(days=days)


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def inline(document, name="app"):
    return GrantedPolicy(name=name, ref=name, kind="inline", document=document)


def run(policies, usage, *, principal=ROLE, **kw):
    return suggest(
        principal=principal, policies=policies, usage=usage, now=NOW, unused_days=90, **kw
    )


def notes_starting(suggestion, start):
    return [note for note in suggestion["notes"] if note.startswith(start)]


def group_of_alice_and_bob(document, alice, bob):
    """A group policy of Alice and Bob, Alice's suggestion, each with the usage given."""
    group_policy = GrantedPolicy(
        name="devs-policy",
        ref="devs-policy",
        kind="group",
        document=document,
        group="devs",
        members=tuple(sorted([ALICE.arn, BOB])),
    )
    group = combined_use(
        uses=[
            MemberUse(created=OLD, usage=alice, read_at=NOW),
            MemberUse(created=OLD, usage=bob, read_at=NOW),
        ]
    )
    return run([group_policy], alice, principal=ALICE, groups={"devs": group}, read_at=NOW)


# --- 1. Wildcards the action database cannot expand -------------------------------------------

UNKNOWN_PATTERNS = [
    "newsvc:*",  # a service newer than the action database, not tracked by AWS
    "sqs:ZzzNew*",  # actions of a known service newer than the database
]


@pytest.mark.parametrize("unknown_pattern", UNKNOWN_PATTERNS)
def test_a_wildcard_unknown_to_the_database_is_not_dropped_with_an_unused_neighbour(
    unknown_pattern,
):
    """Before, the statement {s3:*, <pattern>} with s3 unused was dropped whole, the pattern
    (whose service is not in the usage data: no evidence either way) with it, and the policy
    detached; with one s3 action used, the same pattern survived."""
    usage = {"s3": ServiceUsage("s3", ago(200)), "dynamodb": ServiceUsage("dynamodb", ago(1))}

    suggestion = run([inline(doc(allow(["s3:*", unknown_pattern])))], usage)

    [change] = suggestion["changes"]
    assert change["after"] == doc(allow(unknown_pattern))
    assert suggestion["removed_services"] == ["s3"]
    [note] = notes_starting(suggestion, "Not in the IAM action database")
    assert note.endswith(f"kept as written: {unknown_pattern}")


@pytest.mark.parametrize("unknown_pattern", UNKNOWN_PATTERNS)
def test_a_wildcard_unknown_to_the_database_goes_when_its_service_is_unused(unknown_pattern):
    """Before, it stayed whenever another action of its statement was kept, whatever its own
    service's use: judged the same way as anything else, it goes with its unused service."""
    service = actions.service_of(action=unknown_pattern)
    usage = {"s3": ServiceUsage("s3", ago(1)), service: ServiceUsage(service, ago(300))}

    suggestion = run([inline(doc(allow(["s3:GetObject", unknown_pattern])))], usage)

    assert suggestion["changes"][0]["after"] == doc(allow("s3:GetObject"))
    assert service in suggestion["removed_services"]
    [note] = notes_starting(suggestion, "Not in the IAM action database")
    assert note.endswith(f"removed with their unused service: {unknown_pattern}")


def test_a_literal_unknown_action_of_an_unused_service_is_not_said_to_be_kept():
    """Before, the note said "kept as written" of an action the suggestion removed."""
    usage = {"s3": ServiceUsage("s3", ago(1)), "sqs": ServiceUsage("sqs", ago(300))}

    suggestion = run([inline(doc(allow(["s3:GetObject", "sqs:ZzzNewAction"])))], usage)

    assert suggestion["changes"][0]["after"] == doc(allow("s3:GetObject"))
    assert not any("kept as written" in note for note in suggestion["notes"])
    assert notes_starting(suggestion, "Not in the IAM action database")[0].endswith(
        "removed with their unused service: sqs:ZzzNewAction"
    )


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        allow("*"),
        allow("*:Get*"),
    ],
)
def test_narrowing_a_grant_of_services_by_no_name_says_what_it_cannot_keep(statement):
    """NotAction iam:* (or `*`) grants every service, newer ones included. Rewritten as a list
    of what usage keeps, a service neither the action database nor AWS's tracking knows loses
    its grant: the suggestion says so (before, silently)."""
    usage = {"s3": ServiceUsage("s3", ago(1)), "ec2": ServiceUsage("ec2", ago(300))}

    suggestion = run([inline(doc(statement))], usage)

    [change] = suggestion["changes"]
    assert change["action"] == "rewrite"
    [note] = notes_starting(suggestion, "Granting services by no name")
    assert "narrowed to the services it names: app." in note
    assert "a service newer than both loses its grant" in note
    # Kept as it is (no usage data), it still grants them: nothing to say.
    kept = run([inline(doc(statement))], None)
    assert [c["action"] for c in kept["changes"]] == ["keep"]
    assert not notes_starting(kept, "Granting services by no name")


# --- 2. removed_services: only what the changes remove ----------------------------------------


def test_removed_services_only_lists_services_the_suggestion_removes():
    """Alice never used sqs, Bob (same group) did: the group's sqs:* policy is kept whole, yet
    removed_services (the count on the Right-sizing page, the review item, the remediation
    plan, the comparison with Access Analyzer) said sqs goes."""
    suggestion = group_of_alice_and_bob(
        doc(allow("sqs:*")),
        alice={"sqs": ServiceUsage("sqs", ago(300))},
        bob={"sqs": ServiceUsage("sqs", ago(2))},
    )

    assert [c["action"] for c in suggestion["changes"]] == ["keep"]
    assert suggestion["removed_actions"] == 0
    assert suggestion["removed_services"] == []


def test_access_analyzer_alone_removes_a_service_a_group_policy_keeps():
    analyzer = {
        "finding_id": "f-1",
        "finding_type": "UnusedPermission",
        "status": "ACTIVE",
        "details": [{"unusedPermissionDetails": {"serviceNamespace": "sqs"}}],
    }
    group_policy = GrantedPolicy(
        name="devs-sqs",
        ref="devs-sqs",
        kind="group",
        document=doc(allow("sqs:*")),
        group="devs",
        members=tuple(sorted([ALICE.arn, BOB])),
    )
    alice = {"sqs": ServiceUsage("sqs", ago(300))}
    group = combined_use(
        uses=[
            MemberUse(created=OLD, usage=alice, read_at=NOW),
            MemberUse(created=OLD, usage={"sqs": ServiceUsage("sqs", ago(2))}, read_at=NOW),
        ]
    )

    suggestion = run(
        [group_policy],
        alice,
        principal=ALICE,
        groups={"devs": group},
        read_at=NOW,
        analyzer_findings=[analyzer],
    )

    [beside] = suggestion["access_analyzer"]
    assert (beside["only_access_analyzer"], beside["only_iamreview"]) == (["sqs"], [])


def test_pass_role_kept_by_a_group_policy_is_not_said_to_be_removed():
    """Alice never used iam, Bob did: the group's iam:* stays, iam:PassRole with it. Before,
    the note said PassRole was removed with the wildcard."""
    suggestion = group_of_alice_and_bob(
        doc(allow("iam:*")),
        alice={"iam": ServiceUsage("iam", ago(300))},
        bob={"iam": ServiceUsage("iam", ago(2))},
    )

    assert [c["action"] for c in suggestion["changes"]] == ["keep"]
    assert not notes_starting(suggestion, "Removed with a wildcard")


# --- 3. Validation judges only what iamreview writes ------------------------------------------


def read_only_access():
    services = actions.services()
    return GrantedPolicy(
        name="ReadOnlyAccess",
        ref="arn:aws:iam::aws:policy/ReadOnlyAccess",
        kind="managed",
        document=doc(
            allow([f"{s}:Describe*" for s in services] + [f"{s}:List*" for s in services])
        ),
        is_managed=True,
        is_aws_managed=True,
        attachment_count=50,
    )


def test_an_unchanged_aws_managed_policy_does_not_fail_the_customer_managed_size_limit():
    """AWS-managed policies are not bound by the 6,144 characters of a customer-managed one
    (ReadOnlyAccess is several times that). Kept unchanged, one made a suggestion whose only
    change is a small inline rewrite "fail its own checks"."""
    usage = {s: ServiceUsage(s, ago(1)) for s in actions.services()}
    usage["s3"] = ServiceUsage("s3", ago(1), {"s3:putbucketpolicy": None})
    app = inline(doc(allow(["s3:GetObject", "s3:PutBucketPolicy"])))

    suggestion = run([read_only_access(), app], usage)

    assert [(c["policy"], c["action"]) for c in suggestion["changes"]] == [
        ("ReadOnlyAccess", "keep"),
        ("app", "rewrite"),
    ]
    assert suggestion["validation"]["problems"] == []
    assert suggestion["validation"]["valid"]


def test_the_managed_policy_limit_applies_to_what_iamreview_writes_only():
    big = read_only_access().document
    kept = {"policy": "ReadOnlyAccess", "managed": True, "action": "keep", "after": big}
    replaced = {**kept, "policy": "Copy", "action": "replace"}

    result = validate(changes=[kept, replaced], principal_kind="role")

    [problem] = result["problems"]
    assert problem.endswith("over the managed policy limit of 6144")
    assert [d["issues"] == [] for d in result["documents"]] == [True, False]


def test_a_kept_document_naming_an_action_newer_than_the_database_is_not_judged_again():
    """Before, the untouched document failed the grammar check: iamreview does not write it."""
    newer = doc(allow(["s3:GetObject", "s3:ZzzBrandNewAction"]))
    change = {"policy": "app", "kind": "inline", "action": "keep", "after": newer}

    result = validate(changes=[change], principal_kind="role")

    assert result["valid"], result["problems"]


def test_a_hyphen_in_an_action_name_is_iam_grammar():
    document = doc(allow("vpc-lattice:AssociateViaAWSService-EventsAndStates"))

    assert grammar_issues(document=document) == []


# --- 4. A policy whose document is unknown ----------------------------------------------------

PLAN = {
    "principal_arn": ROLE.arn,
    "changes": [{"policy": "app", "action": "rewrite", "after": doc(allow("s3:GetObject"))}],
}
UNDOCUMENTED = UndocumentedPolicy(name="PowerUserAccess", ref=POWER_USER, kind="managed")


def test_a_policy_of_unknown_document_makes_the_plan_check_broader():
    check = compare_with_plan(
        plan=PLAN, policies=[inline(doc(allow("s3:GetObject"))), UNDOCUMENTED]
    )

    assert check["verdict"] == "broader"
    assert check["beyond_plan"] == 1
    assert check["beyond_plan_examples"] == ["PowerUserAccess (document unknown: not judged)"]
    assert check["not_judged"] == ["PowerUserAccess"]


def test_a_suggestion_names_the_policy_it_could_not_judge():
    usage = {"s3": ServiceUsage("s3", ago(1))}

    suggestion = run([inline(doc(allow("s3:GetObject"))), UNDOCUMENTED], usage)

    assert [c["policy"] for c in suggestion["changes"]] == ["app"]
    [note] = notes_starting(suggestion, "Not judged, its document unknown")
    assert note.startswith("Not judged, its document unknown: PowerUserAccess (")


@pytest.mark.django_db
def test_a_policy_without_a_known_document_does_not_verify_a_remediation_plan():
    """An attached managed policy whose document is unknown (a GAAD file imported with
    --filter) was left out of granted_policies_by_principal, so check_against_plan compared
    the plan with the other policies only and said "equal": the remediation counted as
    verified although the principal may now hold PowerUserAccess."""
    account = make_account()
    role = iam_role(account, "batch")
    attached = attach(account, role, doc(allow(["s3:GetObject", "sqs:*"])), name="batch")
    service_row(account, role, "s3", used_days=2)
    service_row(account, role, "sqs", used_days=None)
    plan = remediation_plan(suggestion=suggestion_for(arn=role.arn, now=DETECT_NOW))
    assert plan["changes"][0]["action"] == "rewrite"

    # The plan carried out ...
    attached.delete()
    attach(account, role, plan["changes"][0]["after"], name="batch")
    assert check_against_plan(account=account, plan=plan)["verdict"] == "equal"
    # ... and then a managed policy attached whose document was not collected.
    PolicyAttachment.objects.create(
        account=account,
        principal_arn=role.arn,
        principal_type="role",
        kind="managed",
        policy_ref=POWER_USER,
        policy_name="PowerUserAccess",
        document_sha256="",
        document=None,
        **observed(),
    )

    assert check_against_plan(account=account, plan=plan)["verdict"] == "broader"
    suggestion = suggestion_for(arn=role.arn, now=DETECT_NOW)
    assert notes_starting(suggestion, "Not judged, its document unknown: PowerUserAccess")
