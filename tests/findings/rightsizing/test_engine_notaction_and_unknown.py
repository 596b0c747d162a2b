"""The suggestion where the action database falls short: NotAction exclusions it cannot expand,
and services or actions newer than it. A suggestion never grants what the original did not, and
never drops what usage shows as used."""

import re

import pytest

from findings.policy import actions
from tests.findings.rightsizing.test_engine import allow, doc, policy, run, used


def allows(document, action):
    """Whether an Allow statement of the document matches the action, as IAM matches it:
    case-insensitive, `*` and `?` wildcards, NotAction as every action but the listed ones."""

    def matches(pattern):
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        return re.fullmatch(body, action, re.IGNORECASE) is not None

    def listed(value):
        return [value] if isinstance(value, str) else value

    for statement in (document or {}).get("Statement", []):
        if statement["Effect"] != "Allow":
            continue
        if "NotAction" in statement:
            if not any(matches(p) for p in listed(statement["NotAction"])):
                return True
        elif any(matches(p) for p in listed(statement["Action"])):
            return True
    return False


def suggested(document, usage):
    return run([policy(document)], usage)["changes"][0]["after"]


def only_used(*services_used):
    """AWS reports every service a wide policy reaches: all unused but the ones named, which
    were used yesterday."""
    usage = {service: used(service, None) for service in actions.services()}
    usage.update({service: used(service, 1) for service in services_used})
    return usage


S3 = actions.actions_of(service="s3")


@pytest.mark.parametrize("excluded", ["newsvc:Delete*", "*:Delete*", "NEWSVC:delete*"])
def test_a_not_action_excluding_part_of_a_used_unknown_service_keeps_the_exclusion(excluded):
    """Before, the statement became a list with `newsvc:*`: the exclusion was checked only
    against the whole service, so newsvc:DeleteEverything, excluded, was granted again."""
    original = doc({"Effect": "Allow", "NotAction": [excluded, "iam:*"], "Resource": "*"})
    suggestion = run([policy(original)], {"s3": used("s3", 300), "newsvc": used("newsvc", 1)})
    after = suggestion["changes"][0]["after"]
    assert not allows(after, "newsvc:DeleteEverything")
    assert not allows(after, "iam:CreateUser")
    assert allows(after, "newsvc:GetThing")  # used within the window: kept
    assert any(
        note.startswith("A NotAction statement excluding part of newsvc")
        for note in suggestion["notes"]
    )


def test_a_not_action_excluding_a_whole_unknown_service_still_narrows_to_the_used_ones():
    original = doc({"Effect": "Allow", "NotAction": ["newsvc:*", "iam:*"], "Resource": "*"})
    after = suggested(original, only_used("s3", "newsvc"))
    assert after == doc(allow("s3:*"))


@pytest.mark.parametrize(
    "excluded", ["s3:PutBucketBrandNewThing", "s3:PutBucketBrandNew*", "s?:PutBucketBrandNewThing"]
)
def test_a_not_action_excluding_an_action_unknown_to_the_database_is_not_widened_back(excluded):
    """Before, every known s3 action was left, and they were compacted to `s3:*`, which grants
    the excluded s3:PutBucketBrandNewThing again."""
    original = doc({"Effect": "Allow", "NotAction": [excluded], "Resource": "*"})
    after = suggested(original, only_used("s3"))
    assert not allows(after, "s3:PutBucketBrandNewThing")
    assert allows(after, "s3:GetObject") and allows(after, "s3:PutObject")
    assert not allows(after, "sqs:SendMessage")


def test_a_whole_service_is_not_compacted_beyond_what_the_original_patterns_match():
    # Every known s3 action, granted only through patterns that also reach unused services:
    # `s3:*` would also grant an s3 action with a verb none of them names.
    verbs = sorted({re.match(r"[A-Z][a-z]*", a.partition(":")[2])[0] for a in S3})
    after = suggested(doc(allow([f"*:{verb}*" for verb in verbs])), only_used("s3"))
    assert all(allows(after, action) for action in S3)
    assert "s3:*" not in after["Statement"][0]["Action"]
    assert not allows(after, "s3:RenameEverything")


def test_a_used_action_unknown_to_the_database_survives_a_rewritten_wildcard():
    """Before, `s3:*` was rewritten from the database's s3 actions only, and
    s3:BrandNewAction, used yesterday, was dropped."""
    usage = {"s3": used("s3", 1, {"GetObject": 1, "DeleteBucket": 300, "BrandNewAction": 1})}
    after = suggested(doc(allow("s3:*")), usage)
    assert allows(after, "s3:BrandNewAction")
    assert allows(after, "s3:GetObject")
    assert not allows(after, "s3:DeleteBucket")


@pytest.mark.parametrize(
    "statement",
    [
        allow(["s3:Get*", "sqs:*"]),
        {"Effect": "Allow", "NotAction": ["s3:PutBrandNew", "iam:*"], "Resource": "*"},
    ],
    ids=["not in its Action", "in its NotAction"],
)
def test_a_used_action_unknown_to_the_database_is_not_added_where_the_original_did_not_grant_it(
    statement,
):
    # Used, through another policy: this one never granted it and does not gain it.
    usage = {
        "s3": used("s3", 1, {"GetObject": 1, "PutBrandNew": 1, "DeleteBucket": 300}),
        "sqs": used("sqs", 300),
    }
    after = suggested(doc(statement), usage)
    assert not allows(after, "s3:PutBrandNew")
    assert allows(after, "s3:GetObject")


@pytest.mark.parametrize("everything", ["*", "*:*", "*:**"])
def test_a_used_service_unknown_to_the_database_survives_however_everything_is_written(
    everything,
):
    """Before, `*:*` lost newsvc, used yesterday, while `*` kept it: only a bare `*` or a
    prefix ending in `*` was seen to reach a service the database does not know."""
    usage = {"s3": used("s3", 1), "ec2": used("ec2", 300), "newsvc": used("newsvc", 1)}
    suggestion = run([policy(doc(allow(everything)))], usage)
    after = suggestion["changes"][0]["after"]
    assert allows(after, "newsvc:DoThing") and allows(after, "s3:GetObject")
    assert not allows(after, "ec2:RunInstances")
    assert "newsvc" in {s["service"] for s in suggestion["services"]}


def test_a_wildcard_service_with_a_narrower_name_keeps_only_that_part_of_an_unknown_service():
    after = suggested(doc(allow("*:Get*")), only_used("s3", "newsvc"))
    assert allows(after, "newsvc:GetThing") and allows(after, "s3:GetObject")
    assert not allows(after, "newsvc:DeleteThing")
    assert not allows(after, "s3:PutObject")
