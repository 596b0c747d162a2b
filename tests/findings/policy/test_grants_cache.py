"""A run's GrantsCache: each document expanded once, each set of policies summed up once, and
the same answers as without it."""

import copy

import pytest

from findings.policy import actions, grants
from findings.policy.documents import statements
from findings.policy.grants import (
    GrantedPolicy,
    GrantsCache,
    document_actions,
    granted_actions,
    granted_services,
)


def doc(*statements_):
    return {"Version": "2012-10-17", "Statement": list(statements_)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def policy(document, name, *, group="", kind="inline"):
    return GrantedPolicy(
        name=name, ref=name, kind="group" if group else kind, document=document, group=group
    )


NOT_IAM = {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}
GROUP_DOCUMENTS = {
    "AllUsers": doc(allow(["iam:ChangePassword", "iam:GetUser"]), allow("s3:List*")),
    "ops": doc(allow("ec2:*"), {"Effect": "Deny", "Action": "ec2:Terminate*", "Resource": "*"}),
    "power": doc(NOT_IAM),
}


def _members():
    """Principals' policies as the suggestions read them: groups' documents shared by their
    members, policies of their own (one a copy of a group's content, one a lone statement
    rather than a list, one with no statement at all)."""
    groups = {
        name: policy(document, name, group=name) for name, document in GROUP_DOCUMENTS.items()
    }
    return [
        [groups["AllUsers"]],
        [groups["AllUsers"], groups["ops"], policy(doc(allow("s3:GetObject")), "reader")],
        [
            policy(copy.deepcopy(GROUP_DOCUMENTS["power"]), "power-copy", kind="managed"),
            groups["AllUsers"],
            groups["power"],
        ],
        [
            policy({"Statement": allow("s3:PutObject")}, "lone"),
            policy({"Version": "2012-10-17"}, "empty"),
            groups["ops"],
        ],
        [groups["power"], policy(doc(allow("iam:PassRole")), "pass"), groups["ops"]],
        [],
    ]


def test_granted_actions_and_services_with_a_cache_are_those_without():
    cache = GrantsCache()  # one for the run: every member's policies
    for policies in _members():
        # Same keys, same labels, in the same order.
        assert list(granted_actions(policies=policies, cache=cache).items()) == list(
            granted_actions(policies=policies).items()
        )
        assert list(granted_services(policies=policies, cache=cache).items()) == list(
            granted_services(policies=policies).items()
        )
        for p in policies:
            assert document_actions(document=p.document, cache=cache) == document_actions(
                document=p.document
            )


def test_the_same_documents_under_other_labels_are_other_grants():
    cache = GrantsCache()
    ours = [policy(GROUP_DOCUMENTS["ops"], "ops", group="ops")]
    theirs = [policy(GROUP_DOCUMENTS["ops"], "ops", group="night-ops")]
    assert granted_services(policies=ours, cache=cache) == {"ec2": ["ops (group ops)"]}
    assert granted_services(policies=theirs, cache=cache) == {"ec2": ["ops (group night-ops)"]}


def test_each_caller_gets_lists_of_its_own():
    cache = GrantsCache()
    policies = [policy(GROUP_DOCUMENTS["ops"], "ops", group="ops")]
    first = granted_services(policies=policies, cache=cache)
    first["ec2"].append("changed by its caller")
    first["s3"] = []
    assert granted_services(policies=policies, cache=cache) == {"ec2": ["ops (group ops)"]}


def test_a_not_action_document_is_every_other_action_with_or_without_a_cache():
    expanded = document_actions(document=doc(NOT_IAM), cache=GrantsCache())
    assert expanded == document_actions(document=doc(NOT_IAM))
    assert "s3:GetObject" in expanded and not any(a.startswith("iam:") for a in expanded)


def test_a_document_let_go_by_its_caller_never_lends_its_id_to_another():
    cache = GrantsCache()
    wanted = actions.actions_of(service="s3")[:50]
    # Each document is let go as soon as it is read: its memory (its id) is free again.
    found = [cache.expanded(doc(allow(action)))[0] for action in wanted]
    assert found == [frozenset({action}) for action in wanted]


@pytest.fixture
def reads(monkeypatch):
    """statements() calls made by grants, counted and passed through."""
    calls = []

    def counted(*, document):
        calls.append(id(document))
        return statements(document=document)

    monkeypatch.setattr(grants, "statements", counted)
    return calls


def _members_asked(members: int) -> tuple[list[GrantedPolicy], list[dict]]:
    """Members of the same three groups, each asked about with the run's cache: the groups'
    policies, and each member's granted_services."""
    groups = [policy(document, name, group=name) for name, document in GROUP_DOCUMENTS.items()]
    cache = GrantsCache()
    for _ in range(members):
        for group in groups:
            document_actions(document=group.document, cache=cache)
    return groups, [granted_services(policies=groups, cache=cache) for _ in range(members)]


@pytest.mark.parametrize("members", [200, 800])
def test_each_document_is_read_once_however_many_members_share_the_groups(reads, members):
    groups, services = _members_asked(members)
    assert len(reads) == len(GROUP_DOCUMENTS)
    assert services == [granted_services(policies=groups)] * members


def test_copies_of_one_document_are_read_once(reads):
    cache = GrantsCache()
    for _ in range(20):
        granted_actions(policies=[policy(copy.deepcopy(doc(NOT_IAM)), "power")], cache=cache)
    assert len(reads) == 1
