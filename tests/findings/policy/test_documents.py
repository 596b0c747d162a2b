import dataclasses

import pytest

from findings.policy.documents import (
    Grant,
    canonical_json,
    diff_documents,
    diff_policy_sets,
    document_hash,
    find_admin_grants,
    find_service_wildcards,
    granted_services,
    pretty,
    statements,
)

ADMINISTRATOR_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def policy(*statement_list):
    return {"Version": "2012-10-17", "Statement": list(statement_list)}


def allow(action=None, resource="*", **extra):
    statement = {"Effect": "Allow", "Resource": resource, **extra}
    if action is not None:
        statement["Action"] = action
    return statement


def deny(action, resource="*"):
    return {"Effect": "Deny", "Action": action, "Resource": resource}


# canonical form and hashing


def test_canonical_json_sorts_keys_and_drops_whitespace():
    document = {"Statement": [{"Resource": "*", "Effect": "Allow"}], "Version": "2012-10-17"}

    assert canonical_json(document=document) == (
        '{"Statement":[{"Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}'
    )


def test_documents_differing_only_in_key_order_hash_equally():
    reordered = {
        "Statement": [{"Resource": "*", "Action": "*", "Effect": "Allow"}],
        "Version": "2012-10-17",
    }

    assert document_hash(document=reordered) == document_hash(document=ADMINISTRATOR_ACCESS)
    assert len(document_hash(document=reordered)) == 64


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            policy(allow("s3:GetObject"), allow("s3:PutObject")),
            policy(allow("s3:PutObject"), allow("s3:GetObject")),
            id="statement order is meaningful",
        ),
        pytest.param(
            policy(allow("s3:GetObject")),
            policy(allow(["s3:GetObject"])),
            id="string and one-element list are kept distinct",
        ),
        pytest.param(
            policy(allow(["s3:GetObject", "s3:PutObject"])),
            policy(allow(["s3:PutObject", "s3:GetObject"])),
            id="action order is kept as written",
        ),
    ],
)
def test_canonical_form_changes_only_key_order_and_whitespace(first, second):
    assert document_hash(document=first) != document_hash(document=second)


def test_pretty_indents_by_two_and_keeps_key_order():
    document = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*"}}

    assert pretty(document=document) == (
        "{\n"
        '  "Version": "2012-10-17",\n'
        '  "Statement": {\n'
        '    "Effect": "Allow",\n'
        '    "Action": "*"\n'
        "  }\n"
        "}"
    )


# normalising statements


@pytest.mark.parametrize(
    ("document", "expected_actions"),
    [
        pytest.param(policy(allow("s3:GetObject")), [("s3:GetObject",)], id="string action"),
        pytest.param(
            policy(allow(["s3:GetObject", "s3:ListBucket"])),
            [("s3:GetObject", "s3:ListBucket")],
            id="list of actions",
        ),
        pytest.param(
            {"Version": "2012-10-17", "Statement": allow("iam:GetRole")},
            [("iam:GetRole",)],
            id="statement as a single dict",
        ),
        pytest.param({"Version": "2012-10-17"}, [], id="no statement at all"),
    ],
)
def test_statements_normalise_strings_lists_and_single_dicts(document, expected_actions):
    assert [s.actions for s in statements(document=document)] == expected_actions


def test_statements_keep_their_index_sid_effect_resources_and_condition():
    condition = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    document = policy(
        deny("s3:DeleteBucket", resource=["arn:aws:s3:::a", "arn:aws:s3:::b"]),
        {
            "Sid": "ReadAllButSecrets",
            "Effect": "Allow",
            "NotAction": "secretsmanager:*",
            "NotResource": "arn:aws:s3:::secret/*",
            "Condition": condition,
        },
    )

    first, second = statements(document=document)

    assert (first.index, first.sid, first.effect) == (0, None, "Deny")
    assert first.resources == ("arn:aws:s3:::a", "arn:aws:s3:::b")
    assert first.condition is None and not first.has_condition
    assert (second.index, second.sid, second.effect) == (1, "ReadAllButSecrets", "Allow")
    assert second.actions == ()
    assert second.not_actions == ("secretsmanager:*",)
    assert second.not_resources == ("arn:aws:s3:::secret/*",)
    assert second.condition == condition and second.has_condition


# admin grants


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(ADMINISTRATOR_ACCESS, id="AdministratorAccess"),
        pytest.param(policy(allow(["*"], resource=["*"])), id="lists"),
        pytest.param(policy(allow("*:*")), id="star colon star"),
        pytest.param(policy(allow(["s3:GetObject", "*"])), id="star among other actions"),
        pytest.param(
            policy(allow("*", resource=["arn:aws:s3:::bucket", "*"])),
            id="star among other resources",
        ),
        pytest.param(
            {"Version": "2012-10-17", "Statement": allow("*")}, id="statement as a single dict"
        ),
        # Every ARN, written as an ARN: was only a service wildcard (medium).
        pytest.param(policy(allow("*", resource="arn:*")), id="arn:*"),
        pytest.param(policy(allow("*", resource="arn:aws:*:*:*:*")), id="arn:aws:*:*:*:*"),
        pytest.param(policy(allow("*", resource="arn:*:*:*:*:*")), id="arn:*:*:*:*:*"),
        pytest.param(policy(allow("*", resource="arn:aws-cn:*")), id="arn:aws-cn:*"),
    ],
)
def test_action_star_on_resource_star_is_full_admin(document):
    grants = find_admin_grants(document=document)

    assert [g.kind for g in grants] == ["full_admin"]
    assert grants[0].has_condition is False


def test_full_admin_grant_points_at_its_statement():
    document = policy(
        allow("s3:GetObject"), {"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"}
    )

    assert find_admin_grants(document=document) == [
        Grant(
            kind="full_admin",
            statement_index=1,
            sid="Admin",
            actions=("*",),
            resources=("*",),
            has_condition=False,
            statement=document["Statement"][1],
            services=("*",),
        )
    ]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(policy(deny("*")), id="Deny star"),
        pytest.param(policy({"Action": "*", "Resource": "*"}), id="no Effect"),
        pytest.param(policy(allow("*", resource="arn:aws:s3:::bucket/*")), id="narrow resource"),
        pytest.param(policy(allow("*", resource="arn:aws:iam::*:*")), id="every IAM resource"),
        pytest.param(policy(allow("*", resource="arn:aws")), id="a partition alone"),
        pytest.param(policy(allow("*", resource="arn:")), id="arn colon"),
        pytest.param(policy(allow("*", resource="arn:aws:s3:*:*:*")), id="every S3 resource"),
        pytest.param(policy(allow("s3:*")), id="one service"),
        pytest.param(policy(allow("*:Get*")), id="every Get action"),
        pytest.param(policy(allow("iam:GetRole")), id="one action"),
    ],
)
def test_statements_short_of_every_action_on_every_resource_are_not_admin(document):
    assert find_admin_grants(document=document) == []


def test_admin_statement_with_a_condition_is_reported_and_flagged():
    document = policy(allow("*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))

    [grant] = find_admin_grants(document=document)

    assert grant.kind == "full_admin"
    assert grant.has_condition is True


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param(
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            [("not_action_allow", ("iam:*",))],
            id="NotAction on star",
        ),
        pytest.param(
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": ["*"]},
            [("not_action_allow", ("iam:*", "organizations:*"))],
            id="NotAction list on star",
        ),
        pytest.param(
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::bucket"},
            [],
            id="NotAction on a narrow resource",
        ),
        pytest.param(
            {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}, [], id="Deny NotAction"
        ),
    ],
)
def test_allow_with_not_action_on_resource_star_is_nearly_admin(statement, expected):
    grants = find_admin_grants(document=policy(statement))

    assert [(g.kind, g.actions) for g in grants] == expected


# service-wide wildcards


@pytest.mark.parametrize(
    ("document", "expected_services"),
    [
        pytest.param(policy(allow("s3:*")), [("s3",)], id="s3 star"),
        pytest.param(policy(allow("S3:*")), [("s3",)], id="service name in any case"),
        pytest.param(
            policy(allow(["iam:*", "s3:GetObject", "ec2:*"], resource="arn:aws:iam::1:role/x")),
            [("ec2", "iam")],
            id="several services on a narrow resource",
        ),
        pytest.param(
            policy(allow("s3:*"), allow("kms:*")), [("s3",), ("kms",)], id="one per statement"
        ),
        pytest.param(
            policy(allow("*", resource="arn:aws:s3:::bucket/*")),
            [("*",)],
            id="star on a narrow resource",
        ),
        pytest.param(policy(allow("s3:Get*")), [], id="partial wildcard is not service wide"),
        pytest.param(policy(allow("s3:*Object")), [], id="leading wildcard is not service wide"),
        pytest.param(policy(allow("*:Get*")), [], id="cross-service partial wildcard"),
        pytest.param(policy(deny("s3:*")), [], id="Deny never grants"),
        pytest.param(ADMINISTRATOR_ACCESS, [], id="full admin is not reported twice"),
        pytest.param(policy(allow(["*", "s3:*"])), [], id="service wildcard beside full admin"),
    ],
)
def test_service_star_action_is_a_service_wildcard(document, expected_services):
    grants = find_service_wildcards(document=document)

    assert all(g.kind == "service_wildcard" for g in grants)
    assert [g.services for g in grants] == expected_services


def test_service_wildcard_keeps_actions_as_written_and_flags_conditions():
    document = policy(
        allow("s3:GetObject"),
        allow(
            ["S3:*", "s3:GetObject"],
            resource="arn:aws:s3:::bucket/*",
            Sid="Bucket",
            Condition={"Bool": {"aws:SecureTransport": "true"}},
        ),
    )

    [grant] = find_service_wildcards(document=document)

    assert grant.statement_index == 1
    assert grant.sid == "Bucket"
    assert grant.actions == ("S3:*",)
    assert grant.resources == ("arn:aws:s3:::bucket/*",)
    assert grant.has_condition is True


# granted services


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        pytest.param([ADMINISTRATOR_ACCESS], {"*"}, id="AdministratorAccess"),
        pytest.param([policy(allow("*:*"))], {"*"}, id="star colon star"),
        pytest.param(
            [policy(allow(["s3:GetObject", "S3:PutObject", "EC2:Describe*"]))],
            {"s3", "ec2"},
            id="namespaces lower-cased",
        ),
        pytest.param(
            [policy(allow("s3:GetObject")), policy(allow("kms:Decrypt"), deny("iam:*"))],
            {"s3", "kms"},
            id="across documents, Deny ignored",
        ),
        pytest.param(
            [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
            {"*"},
            id="NotAction grants every other service",
        ),
        pytest.param([], set(), id="no documents"),
    ],
)
def test_granted_services_lists_namespaces_of_allow_statements(documents, expected):
    assert granted_services(documents=documents) == expected


# diffs for reviews


@pytest.mark.parametrize(
    ("old", "new", "added", "removed"),
    [
        pytest.param(
            policy(allow("s3:GetObject")),
            policy(allow(["s3:GetObject", "s3:PutObject"])),
            {"s3:PutObject"},
            set(),
            id="action added",
        ),
        pytest.param(
            policy(allow(["s3:GetObject", "iam:PassRole"])),
            policy(allow("s3:GetObject")),
            set(),
            {"iam:PassRole"},
            id="action removed",
        ),
        pytest.param(
            policy(allow("s3:GetObject")),
            policy(allow("S3:getobject")),
            set(),
            set(),
            id="case change is not a new action",
        ),
        pytest.param(
            policy(allow("s3:GetObject"), deny("iam:*")),
            policy(allow("s3:GetObject")),
            set(),
            set(),
            id="Deny actions are not grants",
        ),
        pytest.param(
            policy(deny("iam:*")),
            policy(allow("iam:*")),
            {"iam:*"},
            set(),
            id="Deny turned into Allow",
        ),
    ],
)
def test_diff_lists_added_and_removed_allowed_actions(old, new, added, removed):
    diff = diff_documents(old=old, new=new)

    assert diff.added_actions == added
    assert diff.removed_actions == removed
    assert diff.is_first_review is False


def test_diff_is_a_unified_diff_of_sorted_pretty_json():
    old = policy(allow("s3:GetObject"))
    new = policy(allow(["s3:GetObject", "s3:PutObject"]))

    diff = diff_documents(old=old, new=new)

    assert diff.unified[:2] == ("--- before", "+++ after")
    assert '-      "Action": "s3:GetObject",' in diff.unified
    assert '+        "s3:PutObject"' in diff.unified
    assert diff.changed


def test_diff_of_reordered_keys_is_empty():
    reordered = {
        "Statement": [{"Resource": "*", "Effect": "Allow", "Action": "*"}],
        "Version": "2012-10-17",
    }

    diff = diff_documents(old=ADMINISTRATOR_ACCESS, new=reordered)

    assert diff.unified == ()
    assert not diff.changed


def test_first_review_has_no_old_document_and_adds_everything():
    diff = diff_documents(old=None, new=ADMINISTRATOR_ACCESS)

    assert diff.is_first_review is True
    assert diff.added_actions == {"*"}
    assert diff.removed_actions == set()
    assert diff.old_hash is None
    assert diff.unified[:3] == ("--- before", "+++ after", "@@ -0,0 +1,10 @@")
    assert all(line.startswith("+") for line in diff.unified[3:])


def test_removed_document_removes_everything():
    diff = diff_documents(old=ADMINISTRATOR_ACCESS, new=None)

    assert diff.is_first_review is False
    assert diff.removed_actions == {"*"}
    assert diff.new_hash is None
    assert all(line.startswith("-") for line in diff.unified[3:])


def test_policy_set_diff_names_each_policy_added_removed_changed_or_unchanged():
    old = {
        "AdministratorAccess": ADMINISTRATOR_ACCESS,
        "inline-s3": policy(allow("s3:GetObject")),
        "arn:aws:iam::123456789012:policy/ReadLogs": policy(allow("logs:Get*")),
    }
    new = {
        "inline-s3": policy(allow(["s3:GetObject", "s3:PutObject"])),
        "arn:aws:iam::123456789012:policy/ReadLogs": policy(allow("logs:Get*")),
        "inline-kms": policy(allow("kms:Decrypt")),
    }

    changes = diff_policy_sets(old=old, new=new)

    assert [(c.name, c.kind) for c in changes] == [
        ("AdministratorAccess", "removed"),
        ("arn:aws:iam::123456789012:policy/ReadLogs", "unchanged"),
        ("inline-kms", "added"),
        ("inline-s3", "changed"),
    ]
    by_name = {c.name: c.diff for c in changes}
    assert by_name["AdministratorAccess"].removed_actions == {"*"}
    assert by_name["arn:aws:iam::123456789012:policy/ReadLogs"].unified == ()
    assert by_name["inline-kms"].added_actions == {"kms:Decrypt"}
    assert by_name["inline-s3"].added_actions == {"s3:PutObject"}


def test_results_are_frozen():
    [grant] = find_admin_grants(document=ADMINISTRATOR_ACCESS)
    diff = diff_documents(old=None, new=ADMINISTRATOR_ACCESS)

    with pytest.raises(dataclasses.FrozenInstanceError):
        grant.kind = "service_wildcard"
    with pytest.raises(dataclasses.FrozenInstanceError):
        diff.is_first_review = False
