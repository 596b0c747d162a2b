"""Coverage of one set of policy documents by another, grant by grant."""

import pytest

from findings.policy.coverage import allowed_beyond, condition_clauses, pattern_covers


@pytest.mark.parametrize(
    ("pattern", "covered"),
    [
        ("*", "*"),
        ("*", "arn:aws:s3:::payroll/*"),
        ("arn:aws:s3:::payroll/*", "arn:aws:s3:::payroll/a/*"),
        ("arn:aws:s3:::payroll/*", "arn:aws:s3:::payroll/a?c"),
        ("arn:aws:s3:::payroll/a?c", "arn:aws:s3:::payroll/abc"),
        ("arn:aws:s3:::payroll/a?c", "arn:aws:s3:::payroll/a?c"),
        ("arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/${aws:username}/x"),
        ("arn:aws:s3:::home/*", "arn:aws:s3:::home/${aws:username}"),
    ],
)
def test_a_pattern_covers_every_resource_a_narrower_one_matches(pattern, covered):
    assert pattern_covers(pattern=pattern, covered=covered)


@pytest.mark.parametrize(
    ("pattern", "covered"),
    [
        ("arn:aws:s3:::payroll/*", "*"),
        ("arn:aws:s3:::payroll/*", "arn:aws:s3:::payroll*"),
        ("arn:aws:s3:::payroll/*", "arn:aws:s3:::Payroll/a"),
        # A `?` stands for one character, never for the run a `*` may be.
        ("arn:aws:s3:::payroll/a?c", "arn:aws:s3:::payroll/a*c"),
        # A policy variable may be any run of characters too.
        ("arn:aws:s3:::home/????", "arn:aws:s3:::home/${aws:username}"),
        ("arn:aws:s3:::home/${aws:username}", "arn:aws:s3:::home/alice"),
        ("arn:aws:s3:::home/${aws:username}", "arn:aws:s3:::home/${aws:userid}"),
    ],
)
def test_a_pattern_does_not_cover_one_that_may_match_more(pattern, covered):
    assert not pattern_covers(pattern=pattern, covered=covered)


def test_condition_clauses_ignore_the_order_of_values_and_the_case_of_keys():
    assert condition_clauses(
        condition={"StringEquals": {"aws:PrincipalTag/Team": ["b", "a"]}, "Bool": {"x": True}}
    ) == condition_clauses(
        condition={"Bool": {"X": "true"}, "StringEquals": {"aws:principaltag/team": ["a", "b"]}}
    )
    assert condition_clauses(condition=None) == frozenset()
    assert condition_clauses(condition={"StringEquals": "not a block"}) is None


def allow(action: str, resource: str = "*", **extra) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


def test_what_one_side_allows_beyond_the_other_is_named_with_the_reason():
    within = [
        allow(
            "s3:GetObject", "arn:aws:s3:::a/*", Condition={"Bool": {"aws:SecureTransport": "true"}}
        )
    ]
    assert allowed_beyond(documents=within, within=within) == {}
    assert allowed_beyond(
        documents=[allow("s3:GetObject", "arn:aws:s3:::a/*"), allow("sqs:SendMessage")],
        within=within,
    ) == {
        "s3:getobject": "s3:GetObject on arn:aws:s3:::a/* under fewer conditions",
        "sqs:sendmessage": "sqs:SendMessage",
    }
    assert allowed_beyond(documents=[allow("s3:GetObject", "arn:aws:s3:::*")], within=within) == {
        "s3:getobject": "s3:GetObject on arn:aws:s3:::*"
    }
