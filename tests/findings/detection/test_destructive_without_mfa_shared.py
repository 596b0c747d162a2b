"""destructive-without-mfa works out each set of documents once: a group's members share the
answer, and it is the answer each member would get on its own."""

import copy
import random

import pytest

from findings.detection import policy_checks
from findings.detection.checks import CHECKS_BY_ID, Evidence, Principal, Thresholds
from findings.detection.evidence import Detected
from findings.models import CredentialReportEntry
from findings.policy.actions import spelling
from findings.policy.documents import statements
from findings.policy.effective import covered_actions
from tests.findings.detection.test_detect import NOW, credential_fields, days_ago

ACCOUNT = "111122223333"
NO_MFA = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
WITH_MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def allow(action, resource="*", condition=None) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def deny(action, condition=None, resource="*") -> dict:
    statement = {"Effect": "Deny", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


# Grants and guards of every kind the check tells apart, and some that only look like guards.
STATEMENTS = [
    allow("ec2:TerminateInstances"),
    allow(["ec2:*", "s3:DeleteBucket"]),
    allow("s3:Delete*"),
    allow("iam:Delete*", condition=WITH_MFA),
    allow("ec2:Terminate*", condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
    allow("s3:DeleteObject", condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
    allow("dynamodb:DeleteTable", resource="arn:aws:dynamodb:*:*:table/app"),
    {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
    deny("*", NO_MFA),
    deny(["ec2:Terminate*", "s3:Delete*"], NO_MFA),
    deny("ec2:TerminateInstances", NO_MFA, resource="arn:aws:ec2:*:*:instance/i-1"),
    deny("s3:DeleteBucket", {"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
    deny("s3:DeleteBucket", {**NO_MFA, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    deny("iam:DeleteUser", {"BoolIfExists": {"aws:MultiFactorAuthPresent": False}}),
    deny("dynamodb:DeleteTable"),
    {
        "Effect": "Deny",
        "NotAction": ["iam:ListUsers", "sts:*"],
        "Resource": "*",
        "Condition": NO_MFA,
    },
    {"Effect": "Deny", "Action": "ec2:*", "NotResource": "arn:aws:ec2:*:*:instance/i-1"},
]
BOUNDARIES = [
    {"Statement": [allow("*")]},
    {"Statement": [allow(["ec2:*", "s3:*"])]},
    {"Statement": [allow("*"), deny("s3:Delete*", NO_MFA)]},
    {"Statement": [allow("*", condition=WITH_MFA)]},  # a boundary's Allow guards nothing
]


def _reference(*, ev: Evidence) -> list[Detected]:
    """The check as it was: every principal on its own, every action against every statement."""

    def guarded(perms, action):
        allows = []
        for policy in [*perms.policies, *([perms.boundary] if perms.boundary else [])]:
            for s in statements(document=policy.document):
                if action.lower() not in covered_actions(statement=s):
                    continue
                if s.effect == "Deny" and policy_checks._denies_without_mfa(s):
                    return True
                if s.is_allow and policy.kind != "boundary":
                    allows.append(policy_checks._allows_only_with_mfa(s))
        return bool(allows) and all(allows)

    found = []
    for principal in ev.principals:
        if principal.arn not in ev.effective or principal.arn not in ev.console_users:
            continue
        perms = ev.effective[principal.arn]
        unguarded = sorted(
            spelling(action=a)
            for a in perms.allowed
            if a.partition(":")[2].startswith(policy_checks.DESTRUCTIVE_PREFIXES)
            and not guarded(perms, a)
        )
        if unguarded:
            found.append(
                Detected(
                    "destructive-without-mfa",
                    principal.arn,
                    principal.arn,
                    principal.kind,
                    principal.name,
                    {
                        "count": len(unguarded),
                        "actions": unguarded[:50],
                        **policy_checks._library(),
                    },
                )
            )
    return found


def _principal(name, documents, *, boundary=None, kind="user") -> Principal:
    return Principal(
        arn=f"arn:aws:iam::{ACCOUNT}:{kind}/{name}",
        name=name,
        kind=kind,
        create_date=days_ago(400),
        tags={},
        documents=documents,
        boundary=boundary,
    )


def _evidence(principals, *, console) -> Evidence:
    entries = [
        CredentialReportEntry(**credential_fields(p.name, password_enabled=True))
        for p in principals
        if p.kind == "user" and p.name in console
    ]
    return Evidence(ACCOUNT, NOW, entries, principals, [], {}, [], set(), set())


def _account(seed: int) -> Evidence:
    """Users in groups (most in AllUsers), some with policies of their own (some copies of a
    group's document), some with a boundary, not all with a password; and a role."""
    rng = random.Random(seed)

    def document():
        return {"Version": "2012-10-17", "Statement": rng.sample(STATEMENTS, rng.randint(1, 3))}

    groups = {
        "AllUsers": [("mfa", "managed", {"Statement": [STATEMENTS[8], allow("s3:DeleteObject")]})],
        **{f"team{n}": [(f"team{n}", "inline", document())] for n in range(4)},
        "power": [("power", "managed", {"Statement": [STATEMENTS[7], STATEMENTS[12]]})],
    }
    principals = []
    for n in range(40):
        own = [(f"own{n}", "inline", document())] if rng.random() < 0.4 else []
        if rng.random() < 0.2:
            own.append(("copy", "managed", copy.deepcopy(groups["power"][0][2])))
        member_of = [g for g in groups if g != "AllUsers" and rng.random() < 0.3]
        if rng.random() < 0.8:
            member_of.insert(0, "AllUsers")
        documents = own + [
            (f"{label} (via group {group})", kind, doc)
            for group in member_of
            for label, kind, doc in groups[group]
        ]
        boundary = ("limit", rng.choice(BOUNDARIES)) if rng.random() < 0.25 else None
        principals.append(_principal(f"user{n}", documents, boundary=boundary))
    principals.append(_principal("deployer", [("deploy", "inline", document())], kind="role"))
    console = {p.name for p in principals if rng.random() < 0.85}
    return _evidence(principals, console=console)


def _run(ev: Evidence) -> list[Detected]:
    return list(CHECKS_BY_ID["destructive-without-mfa"].run(ev=ev, t=Thresholds()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_shared_answer_is_what_each_principal_gets_on_its_own(seed):
    ev = _account(seed)
    expected = _reference(ev=ev)
    assert _run(ev) == expected
    # The accounts are varied enough to say something: findings and guarded principals both.
    assert 0 < len(expected) < len(ev.console_users)


def test_the_rules_of_each_guard_are_kept_one_statement_at_a_time():
    """Every pool statement beside each grant, under each boundary in turn or none."""
    grants = [s for s in STATEMENTS if s["Effect"] == "Allow"]
    boundaries = [None, *BOUNDARIES]
    principals = [
        _principal(
            f"user{n}",
            [("grant", "inline", {"Statement": [grant]}), ("guard", "inline", {"Statement": [s]})],
            boundary=("limit", boundary) if (boundary := boundaries[n % len(boundaries)]) else None,
        )
        for n, (grant, s) in enumerate((grant, s) for grant in grants for s in STATEMENTS)
    ]
    ev = _evidence(principals, console={p.name for p in principals})
    assert _run(ev) == _reference(ev=ev)


def _shared_groups(members: int) -> Evidence:
    """Members of the same three groups: an MFA Deny, an MFA-only Allow, a NotAction Allow."""
    groups = [
        ("AllUsers", {"Statement": [STATEMENTS[9], allow(["s3:DeleteObject", "ec2:*"])]}),
        ("ops", {"Statement": [STATEMENTS[3], STATEMENTS[11]]}),
        ("power", {"Statement": [STATEMENTS[7], STATEMENTS[10]]}),
    ]
    principals = [
        _principal(
            f"user{n}",
            [(f"{g} (via group {g})", "managed", doc) for g, doc in groups],
            # Every other one with a boundary, each a copy of the same content.
            boundary=("limit", copy.deepcopy(BOUNDARIES[1])) if n % 2 else None,
        )
        for n in range(members)
    ]
    return _evidence(principals, console={p.name for p in principals})


def test_members_of_the_same_groups_are_told_apart_by_their_boundary():
    ev = _shared_groups(4)
    found = _run(ev)
    assert found == _reference(ev=ev)
    assert found[0].evidence != found[1].evidence


def _reads(monkeypatch, members: int) -> tuple[int, int]:
    """(statements() calls, findings) of one run of the check over the members."""
    ev = _shared_groups(members)
    calls = []

    def counted(*, document):
        calls.append(id(document))
        return statements(document=document)

    monkeypatch.setattr(policy_checks, "statements", counted)
    found = _run(ev)
    monkeypatch.undo()
    return len(calls), len(found)


def test_documents_are_read_once_however_many_members_share_the_groups(monkeypatch):
    few_reads, few_found = _reads(monkeypatch, 200)
    many_reads, many_found = _reads(monkeypatch, 800)
    # The three groups' documents, and the boundary's content (one copy per member) once.
    assert few_reads == many_reads == 4
    assert (few_found, many_found) == (200, 800)
