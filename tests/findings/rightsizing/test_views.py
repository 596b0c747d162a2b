"""The Least privilege section, its downloads and the Right-sizing page, for each persona."""

import json
from html import unescape

import pytest

from findings.policy import actions
from findings.rightsizing.engine import AFFECTS_SHOWN
from findings.rightsizing.services import refresh_suggestions
from tests.findings.detection.test_detect import iam_role, iam_user, make_account
from tests.findings.rightsizing.test_selectors import (
    BATCH,
    all_users_group,
    attach,
    service_row,
)

# The project URL conf mounts the API being rewritten elsewhere (findings/api/docs is missing on
# this branch): these tests use the pages' own URL conf.
pytestmark = pytest.mark.django_db


def response_queries(client, url: str) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return list(queries)


@pytest.fixture
def production():
    return make_account()


@pytest.fixture
def legacy_batch(production):
    role = iam_role(production, "legacy-checkout-batch-job", tags={"team": "checkout"})
    attach(production, role, BATCH, name="batch")
    service_row(production, role, "s3", used_days=2)
    service_row(production, role, "dynamodb", used_days=200)
    service_row(production, role, "sqs", used_days=None)
    return role


def test_a_reviewer_sees_the_least_privilege_section_with_the_diff(client, reviewer, legacy_batch):
    client.force_login(reviewer)
    response = client.get(f"/inventory/roles/{legacy_batch.pk}/")
    content = unescape(response.content.decode())
    assert response.status_code == 200
    assert "Least privilege" in content
    assert '-        "dynamodb:*",' in content
    assert "rewrite" in content
    assert f"/rightsizing/role/{legacy_batch.pk}/terraform/" in content


def test_with_no_usage_data_collected_services_say_so_and_an_admin_list_is_folded(
    client, reviewer, production
):
    """No service last-accessed data for the principal: its services are "no-data" (AWS does
    track them; we have not asked), and an administrator's ~400 of them fold under one line."""
    admin = iam_role(production, "break-glass")
    attach(
        production,
        admin,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        },
        name="admin",
    )
    client.force_login(reviewer)
    response = client.get(f"/inventory/roles/{admin.pk}/")
    content = unescape(response.content.decode())

    assert "not tracked by AWS" not in content
    assert "no service last-accessed data collected for it yet" in content
    folded = response.context["least_privilege_folded"]
    assert len(folded) > 300 and {s["verdict"] for s in folded} == {"no-data"}
    assert response.context["least_privilege_services"] == []
    n = len(folded)
    assert f"{n} services (no-data: {n})" in content and "more services" not in content
    assert "every one is kept" in content


def test_an_admin_roles_hundreds_of_unused_services_are_folded_after_the_first(
    client, reviewer, production
):
    admin = iam_role(production, "old-admin")
    attach(
        production,
        admin,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        },
        name="admin",
    )
    for service in actions.services():
        service_row(production, admin, service, used_days=1 if service == "s3" else 300)
    client.force_login(reviewer)
    response = client.get(f"/inventory/roles/{admin.pk}/")

    shown = response.context["least_privilege_services"]
    folded = response.context["least_privilege_folded"]
    assert [s["verdict"] for s in shown] == ["used"] + ["unused"] * 20
    assert shown[0]["service"] == "s3"
    assert len(folded) > 300 and {s["verdict"] for s in folded} == {"unused"}
    assert f"{len(folded)} more services (unused: {len(folded)})" in unescape(
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", '"Action": "s3:GetObject"'),
        ("terraform", 'resource "aws_iam_role_policy" "batch"'),
        ("cloudformation", '"Type": "AWS::IAM::RolePolicy"'),
    ],
)
def test_the_suggested_policy_downloads_in_three_formats(
    client, reviewer, legacy_batch, fmt, expected
):
    client.force_login(reviewer)
    response = client.get(f"/rightsizing/role/{legacy_batch.pk}/{fmt}/")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert expected in response.content.decode()


def test_the_cloudformation_download_is_a_template(client, reviewer, legacy_batch):
    client.force_login(reviewer)
    template = json.loads(
        client.get(f"/rightsizing/role/{legacy_batch.pk}/cloudformation/").content
    )
    [resource] = template["Resources"].values()
    assert resource["Properties"]["RoleName"] == "legacy-checkout-batch-job"
    assert resource["Properties"]["PolicyDocument"]["Statement"][0]["Action"] == "s3:GetObject"


def test_the_cloudformation_download_resolves_nothing_the_policys_author_wrote(
    client, reviewer, production
):
    # Whoever may put a policy on a role they use writes any text in a Condition: were it a
    # live dynamic reference, deploying the template would put the secret in the policy,
    # which its author reads back (iam:GetRolePolicy).
    reference = "{{resolve:secretsmanager:prod/db:SecretString:password}}"
    planted = {
        **BATCH,
        "Statement": [
            {**statement, "Condition": {"StringNotEquals": {"aws:PrincipalTag/note": reference}}}
            for statement in BATCH["Statement"]
        ],
    }
    role = iam_role(production, "batch-job")
    attach(production, role, planted, name="batch")
    service_row(production, role, "s3", used_days=2)
    service_row(production, role, "sqs", used_days=None)
    client.force_login(reviewer)
    response = client.get(f"/rightsizing/role/{role.pk}/cloudformation/")
    assert response.status_code == 200
    template = json.loads(response.content)
    assert "{{" not in json.dumps(template["Resources"])
    [resource] = template["Resources"].values()
    document = json.loads(resource["Properties"]["PolicyDocument"])  # as IAM reads it
    assert document["Statement"][0]["Condition"]["StringNotEquals"] == {
        "aws:PrincipalTag/note": reference
    }


def test_a_group_policys_change_names_its_first_members_and_the_template_every_one(
    client, reviewer, production
):
    users = all_users_group(production, AFFECTS_SHOWN + 5)
    first = users[0]
    client.force_login(reviewer)

    page = unescape(client.get(f"/inventory/users/{first.pk}/").content.decode())
    assert f"affects {AFFECTS_SHOWN + 5} members" in page
    assert users[AFFECTS_SHOWN - 1].arn in page and users[AFFECTS_SHOWN].arn not in page
    assert " and 5 more" in page

    template = json.loads(client.get(f"/rightsizing/user/{first.pk}/cloudformation/").content)
    also = template["Metadata"]["IamReview"]["AlsoChanges"]
    assert also == {"group AllUsers": [user.arn for user in users[1:]]}


def test_a_role_identity_center_made_gets_no_iam_change_files(client, reviewer, legacy_batch):
    """AWS refuses IAM changes to AWSReservedSSO_ roles: the Terraform and CloudFormation
    downloads told people to detach their policies in IAM. The policy itself is still offered,
    for the permission set."""
    type(legacy_batch).objects.filter(pk=legacy_batch.pk).update(is_sso=True)
    client.force_login(reviewer)

    for fmt in ("terraform", "cloudformation"):
        refused = client.get(f"/rightsizing/role/{legacy_batch.pk}/{fmt}/")
        assert refused.status_code == 400
        assert "permission set" in refused.content.decode()
    assert client.get(f"/rightsizing/role/{legacy_batch.pk}/json/").status_code == 200
    page = unescape(client.get(f"/inventory/roles/{legacy_batch.pk}/").content.decode())
    assert "/terraform/" not in page and "permission set's inline policy" in page


def test_odd_downloads_are_404s(client, reviewer, legacy_batch):
    client.force_login(reviewer)
    assert client.get(f"/rightsizing/role/{legacy_batch.pk}/zip/").status_code == 404
    assert client.get(f"/rightsizing/group/{legacy_batch.pk}/json/").status_code == 404
    assert client.get("/rightsizing/role/999999/json/").status_code == 404


def test_an_outsider_gets_no_suggestion(client, outsider, legacy_batch):
    client.force_login(outsider)
    assert client.get(f"/rightsizing/role/{legacy_batch.pk}/json/").status_code == 403
    assert client.get("/rightsizing/").status_code == 403


def test_the_rightsizing_page_lists_what_suggestions_remove_in_fixed_queries(
    client, reviewer, production, legacy_batch, django_assert_max_num_queries
):
    for n in range(15):
        role = iam_role(production, f"worker-{n}")
        attach(production, role, BATCH, name=f"p{n}")
        service_row(production, role, "sqs", used_days=300)
    iam_user(production, "alice")
    refresh_suggestions(account=production)
    client.force_login(reviewer)
    with django_assert_max_num_queries(12):
        response = client.get("/rightsizing/")
    content = unescape(response.content.decode())
    assert response.status_code == 200
    assert "16 principals with something to remove" in content
    assert "legacy-checkout-batch-job" in content
    page_sql = [q["sql"] for q in response_queries(client, "/rightsizing/")]
    # The list reads the unused services out of each suggestion, never the whole document.
    assert not [sql for sql in page_sql if '"findings_policysuggestion"."data",' in sql]
    filtered = client.get("/rightsizing/?tag=team=checkout&kind=role")
    assert [r.principal_name for r in filtered.context["page"]] == ["legacy-checkout-batch-job"]
    # A tag key is matched as written, never read as a lookup.
    for odd in ("a__b", "regex=(", "contains=x"):
        response = client.get("/rightsizing/", {"tag": odd})
        assert response.status_code == 200 and list(response.context["page"]) == [], odd
        assert client.get("/rightsizing/export.json", {"tag": odd}).status_code in (200, 403)
    refused = client.get("/rightsizing/?tag==x")
    assert refused.status_code == 400
    assert "is not a tag: write key or key=value" in refused.content.decode()
    assert 'id="rightsizing-tag" name="tag" value="=x"' in refused.content.decode()


def test_an_auditor_exports_the_list_and_a_reviewer_may_not(
    client, auditor, reviewer, legacy_batch, production
):
    refresh_suggestions(account=production)
    client.force_login(auditor)
    rows = json.loads(client.get("/rightsizing/export.json").content)
    assert rows[0]["name"] == "legacy-checkout-batch-job"
    assert rows[0]["removed_services"] == ["dynamodb", "sqs"]
    csv = client.get("/rightsizing/export.csv?kind=role").content.decode()
    assert csv.splitlines()[0].startswith("account,kind,name,arn")
    client.force_login(reviewer)
    assert client.get("/rightsizing/export.csv").status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_crafted_tag_in_a_rightsizing_export_link_comes_back_as_plain_text(client, auditor, fmt):
    client.force_login(auditor)
    payload = '=<meta http-equiv="refresh" content="0;url=https://evil.example/login">'

    response = client.get(f"/rightsizing/export.{fmt}", {"tag": payload})

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
