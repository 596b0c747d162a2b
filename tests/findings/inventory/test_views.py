"""Inventory pages: users and roles listed, searched and paged; one page per principal."""

from html import unescape

import pytest
from django.core.cache import cache

from findings.detection.detect import detect_account
from findings.models import CollectionRun, Source
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    active_key,
    attach,
    console_password,
    credential_entry,
    iam_group,
    iam_role,
    iam_user,
    make_account,
    service_row,
    succeeded_run,
)

pytestmark = pytest.mark.django_db

READ_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}
BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sqs:*"], "Resource": "*"}],
}


@pytest.fixture
def production():
    account = make_account()
    for source in Source:
        succeeded_run(account, source)
    return account


@pytest.fixture
def staging():
    return make_account("444455556666", "Staging")


def text(response) -> str:
    return unescape(response.content.decode())


def table_of(response) -> str:
    """The list's table (the page around it carries per-request tokens)."""
    content = response.content.decode()
    return content[content.index('<div id="inventory-table"') : content.index("</main>")]


def names(response) -> list[str]:
    return [row.name for row in response.context["page"].object_list]


# --- Users ------------------------------------------------------------------------------------


def test_users_list_with_credentials_and_the_root_user(client, reviewer, production, staging):
    iam_user(production, "alice", groups=["developers"])
    credential_entry(production, "alice", mfa_active=True, **console_password(used_days=3))
    iam_user(production, "bob")
    credential_entry(production, "bob", **active_key(created_days=300, used_days=None))
    credential_entry(production, "<root_account>", mfa_active=False)
    iam_user(staging, "carol")
    client.force_login(reviewer)

    response = client.get("/inventory/")

    assert response.status_code == 200
    assert names(response) == ["alice", "bob", "carol"]
    content = text(response)
    assert "Root user" in content
    assert "developers" in content
    assert 'Key 1: <span class="absent">never used</span>' in content
    assert "Not in the credential report yet" in content  # carol
    assert "3 users" in content
    assert client.get("/inventory/users/").status_code == 200


def test_users_filter_by_account_and_search(client, reviewer, production, staging):
    iam_user(production, "alice")
    iam_user(production, "bob")
    iam_user(staging, "alicia")
    client.force_login(reviewer)
    assert names(client.get("/inventory/users/?account=444455556666")) == ["alicia"]
    assert names(client.get("/inventory/users/?q=ALI")) == ["alice", "alicia"]
    assert names(client.get("/inventory/users/?q=user/bob")) == ["bob"]


def test_users_sort_stalest_first_and_the_sort_survives_filters_and_pages(
    client, reviewer, production, staging
):
    iam_user(production, "active")
    credential_entry(production, "active", **console_password(used_days=1))
    iam_user(production, "dormant")
    credential_entry(production, "dormant", **active_key(created_days=300, used_days=200))
    iam_user(staging, "never")
    credential_entry(staging, "never", **active_key(created_days=300, used_days=None))
    client.force_login(reviewer)

    assert names(client.get("/inventory/users/?sort=stale")) == ["never", "dormant", "active"]
    assert names(client.get("/inventory/users/?sort=name")) == ["active", "dormant", "never"]
    page = text(client.get("/inventory/users/?sort=stale&q=e"))
    assert '<input type="hidden" name="sort" value="stale">' in page
    assert names(client.get("/inventory/users/?sort=nonsense")) == ["active", "dormant", "never"]


def test_by_account_is_the_default_order_roots_included(client, reviewer, production, staging):
    """Accounts in the order they were connected (the index's), then names; the root users on
    the first page follow the same order."""
    iam_user(staging, "zed")
    iam_user(production, "bob")
    iam_user(production, "alice")
    credential_entry(staging, "<root_account>")
    credential_entry(production, "<root_account>")
    client.force_login(reviewer)
    response = client.get("/inventory/users/?sort=account")
    assert names(response) == names(client.get("/inventory/users/")) == ["alice", "bob", "zed"]
    assert [root.account_id for root in response.context["roots"]] == [production.pk, staging.pk]
    # The count is of IAM users: the root rows above them are named beside it, not miscounted.
    assert "3 users, and 2 accounts' root users above them" in text(response)
    one = client.get(f"/inventory/users/?account={production.account_id}")
    assert "2 users, and the account's root user above them" in text(one)


def test_roles_sort_stalest_first_never_used_before_anything(client, reviewer, production):
    iam_role(production, "busy", last_used_days=1)
    iam_role(production, "idle", last_used_days=120)
    iam_role(production, "unused", last_used_days=None)
    client.force_login(reviewer)
    assert names(client.get("/inventory/roles/?sort=stale")) == ["unused", "idle", "busy"]


def test_inventory_table_is_a_partial_for_htmx(client, reviewer, production):
    iam_user(production, "alice")
    client.force_login(reviewer)
    response = client.get("/inventory/users/?q=ali", headers={"HX-Request": "true"})
    assert response.content.decode().lstrip().startswith('<div id="inventory-table"')
    assert b"<html" not in response.content


@pytest.mark.parametrize("count", [3, 120])
def test_users_list_makes_a_fixed_number_of_queries(
    client, reviewer, production, count, django_assert_max_num_queries
):
    for n in range(count):
        iam_user(production, f"user-{n:03}")
        credential_entry(production, f"user-{n:03}", **active_key(created_days=300, used_days=2))
    client.force_login(reviewer)
    client.get("/inventory/users/")
    cache.clear()  # the table as built (the first view also counted the tabs)

    with django_assert_max_num_queries(10):
        response = client.get("/inventory/users/")
    assert len(names(response)) == min(count, 50)

    # Viewed again while nothing changed: the table comes from the cache.
    with django_assert_max_num_queries(5):
        again = client.get("/inventory/users/")
    assert table_of(again) == table_of(response)


def test_user_page_shows_credentials_groups_policies_services_and_findings(
    client, reviewer, production
):
    developers = iam_group(production, "developers")
    attach(production, developers, READ_S3, name="read-s3", principal_type="group")
    user = iam_user(production, "bob", groups=["developers"], tags={"team": "data"})
    attach(production, user, ADMIN_POLICY, name="bob-admin")
    credential_entry(
        production,
        "bob",
        **console_password(used_days=None, changed_days=400),
        **active_key(created_days=300, used_days=None),
    )
    service_row(production, user, "s3", used_days=2)
    service_row(production, user, "dynamodb", used_days=None)
    detect_account(account=production)
    client.force_login(reviewer)

    content = text(client.get(f"/inventory/users/{user.pk}/"))

    assert "never used (or not since AWS began tracking)" in content  # password
    assert "Access key 1" in content and "never used" in content
    assert "no such credential" in content  # key 2 does not exist
    assert "via group developers" in content
    assert "read-s3" in content and "bob-admin" in content
    assert '"Action": "*"' in content
    assert 'class="unused"' in content  # dynamodb
    assert "not within AWS's ~400-day tracking window" in content
    assert "Full administrator access" in content
    assert "Console user without MFA" in content
    assert "team=data" in content


# --- Roles ------------------------------------------------------------------------------------


def test_roles_list_with_kinds_and_last_use(client, reviewer, production):
    iam_role(production, "app", last_used_days=3)
    iam_role(production, "legacy", last_used_days=None)
    iam_role(
        production,
        "AWSServiceRoleForSupport",
        path="/aws-service-role/support.amazonaws.com/",
        is_service_linked=True,
    )
    iam_role(
        production,
        "AWSReservedSSO_Admin_1",
        path="/aws-reserved/sso.amazonaws.com/",
        is_sso=True,
    )
    client.force_login(reviewer)

    response = client.get("/inventory/roles/")
    content = text(response)

    assert names(response) == [
        "app",
        "AWSReservedSSO_Admin_1",
        "AWSServiceRoleForSupport",
        "legacy",
    ]
    assert "Not used within AWS's ~400-day tracking window" in content
    assert "never used" not in content.lower()
    assert "Service-linked" in content and "IAM Identity Center" in content
    assert names(client.get("/inventory/roles/?kind=service-linked")) == [
        "AWSServiceRoleForSupport"
    ]
    assert names(client.get("/inventory/roles/?kind=sso")) == ["AWSReservedSSO_Admin_1"]
    assert names(client.get("/inventory/roles/?kind=application")) == ["app", "legacy"]


@pytest.mark.parametrize("count", [3, 120])
def test_roles_list_makes_a_fixed_number_of_queries(
    client, reviewer, production, count, django_assert_max_num_queries
):
    for n in range(count):
        role = iam_role(production, f"role-{n:03}")
        attach(production, role, READ_S3)
    client.force_login(reviewer)
    client.get("/inventory/roles/")
    cache.clear()

    with django_assert_max_num_queries(9):
        response = client.get("/inventory/roles/")
    assert len(names(response)) == min(count, 50)
    assert response.context["page"].object_list[0].policy_count == 1

    with django_assert_max_num_queries(5):
        assert table_of(client.get("/inventory/roles/")) == table_of(response)


def test_the_cached_table_follows_collection_detection_and_accounts(client, reviewer, production):
    iam_user(production, "alice")
    client.force_login(reviewer)
    assert names(client.get("/inventory/users/")) == ["alice"]

    # A collection run (its start is enough) shows a new user at the next view.
    iam_user(production, "bob")
    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    assert names(client.get("/inventory/users/")) == ["alice", "bob"]

    # Users stored by a run still in progress show once it ends (or within the minute).
    running = succeeded_run(production, Source.CREDENTIAL_REPORT)
    running.status = CollectionRun.Status.RUNNING
    running.save()
    assert names(client.get("/inventory/users/")) == ["alice", "bob"]
    iam_user(production, "carol")
    running.status = CollectionRun.Status.SUCCEEDED
    running.save()
    assert names(client.get("/inventory/users/")) == ["alice", "bob", "carol"]

    # Detection opening a finding moves the user's count.
    credential_entry(production, "bob", **console_password(used_days=400))
    detect_account(account=production)
    assert 'href="/inventory/users/' in text(client.get("/inventory/users/"))
    assert "#findings" in text(client.get("/inventory/users/"))

    # A renamed account shows at once.
    production.name = "Renamed production"
    production.save()
    assert "Renamed production" in text(client.get("/inventory/users/"))

    # The htmx table and the page differ (both cached), and the filters have their own.
    table = client.get("/inventory/users/", headers={"HX-Request": "true"}).content.decode()
    assert table.lstrip().startswith('<div id="inventory-table"')
    assert names(client.get("/inventory/users/?q=bob")) == ["bob"]


def test_role_page_says_tracking_window_for_empty_last_used(client, reviewer, production):
    role = iam_role(production, "legacy-batch", created_days=2000, description="Nightly batch")
    attach(production, role, READ_S3, name="read-s3")
    attach(
        production,
        role,
        ADMIN_POLICY,
        kind="managed",
        name="AdministratorAccess",
        ref="arn:aws:iam::aws:policy/AdministratorAccess",
    )
    attach(
        production,
        role,
        BOUNDARY,
        kind="boundary",
        name="DataBoundary",
        ref="arn:aws:iam::111122223333:policy/DataBoundary",
    )
    detect_account(account=production)
    client.force_login(reviewer)

    content = text(client.get(f"/inventory/roles/{role.pk}/"))

    assert "Not used within AWS's ~400-day tracking window" in content
    assert "never used" not in content.lower()
    assert "Trust policy" in content and "ec2.amazonaws.com" in content
    assert "Inline policies" in content and "read-s3" in content
    assert "arn:aws:iam::aws:policy/AdministratorAccess" in content
    assert "Permissions boundary" in content and "DataBoundary" in content
    assert "Role unused" in content and "Full administrator access" in content
    assert "Nightly batch" in content


def test_service_linked_role_page_says_why_it_has_no_unused_finding(client, reviewer, production):
    role = iam_role(
        production,
        "AWSServiceRoleForSupport",
        path="/aws-service-role/support.amazonaws.com/",
        is_service_linked=True,
    )
    detect_account(account=production)
    client.force_login(reviewer)

    content = text(client.get(f"/inventory/roles/{role.pk}/"))

    assert "Service-linked: owned by AWS, excluded from unused-role findings" in content
    assert "No findings, open or past." in content


def test_unknown_principals_are_404_and_outsiders_get_403(client, reviewer, outsider, production):
    client.force_login(reviewer)
    assert client.get("/inventory/users/999999/").status_code == 404
    assert client.get("/inventory/roles/999999/").status_code == 404
    client.force_login(outsider)
    assert client.get("/inventory/").status_code == 403
    assert client.get("/inventory/roles/").status_code == 403


def test_hostile_names_are_escaped(client, reviewer, production):
    role = iam_role(production, "x", description="<script>alert(1)</script>")
    client.force_login(reviewer)
    content = client.get(f"/inventory/roles/{role.pk}/").content
    assert b"<script>alert(1)</script>" not in content
    assert b"&lt;script&gt;" in content


def test_pages_and_the_count_stop_at_the_row_limit_so_neither_grows_with_the_table(
    client, reviewer, production, settings, django_assert_max_num_queries
):
    settings.FINDINGS_LIST_MAX_ROWS = 60
    for n in range(130):
        iam_user(production, f"user-{n:03}")
    client.force_login(reviewer)

    response = client.get("/inventory/users/")
    assert "At least 60 users" in text(response)
    assert response.context["page"].paginator.num_pages == 2
    last = client.get("/inventory/users/?page=9")
    assert names(last) == [f"user-{n:03}" for n in range(50, 60)]


def test_each_list_reads_its_page_through_a_limited_query(client, reviewer, production, staging):
    """No query of the list page reads the users or roles without a LIMIT (the tab totals
    aside, counted once per collection run and cached)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        iam_user(production, f"user-{n}")
        iam_role(staging, f"role-{n}")
    client.force_login(reviewer)
    for path in ("/inventory/users/?account=444455556666", "/inventory/roles/?q=role"):
        client.get(path)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        for query in queries.captured_queries:
            sql = query["sql"]
            if 'FROM "findings_iamuser"' in sql or 'FROM "findings_iamrole"' in sql:
                assert "LIMIT" in sql, sql


def test_a_search_reads_its_matches_once_and_pages_and_counts_them(
    client, reviewer, production, settings
):
    """A search reads the ids of what it matches in order, up to the row limit, in one
    statement: pages and the count come from them, as for any list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(70):
        iam_user(production, f"ops-{n:03}")
        iam_user(production, f"dev-{n:03}")
    client.force_login(reviewer)
    first = client.get("/inventory/users/?q=ops-&sort=name")
    assert "70 users, showing 1–50" in text(first)
    assert names(first) == [f"ops-{n:03}" for n in range(50)]
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        second = client.get("/inventory/users/?q=ops-&sort=name&page=2")
    assert names(second) == [f"ops-{n:03}" for n in range(50, 70)]
    searches = [
        q["sql"] for q in queries.captured_queries if '"findings_iamuser"."arn"' in q["sql"]
    ]
    assert len(searches) == 1, searches  # no separate count of the matches

    settings.FINDINGS_LIST_MAX_ROWS = 60
    cache.clear()
    capped = client.get("/inventory/users/?q=ops-&sort=name&page=2")
    assert "At least 60 users" in text(capped)
    assert names(capped) == [f"ops-{n:03}" for n in range(50, 60)]


def test_the_risk_summary_counts_the_escalations_detection_found_with_the_whole_account(
    client, reviewer, production
):
    """Alone, a user allowed to assume a role that can escalate has no escalation method of
    its own; detection, which sees the account's roles, found a path: the page counts it."""
    from findings.models import Finding
    from tests.findings.api.test_api import make_finding

    dev = iam_user(production, "dev")
    attach(
        production,
        dev,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
        },
    )
    client.force_login(reviewer)

    def escalations() -> str:
        page = text(client.get(f"/inventory/users/{dev.pk}/"))
        risks = page[page.index("Risk summary") :]
        return risks[risks.index("Privilege escalation") :].split("</dd>")[0]

    assert "none" in escalations()
    finding = make_finding(
        production,
        dev.arn,
        check="privilege-escalation",
        evidence={
            "methods": [{"method": "PassExistingRoleToNewLambdaThenInvoke"}],
            "path": "user/dev -> role/hop -> escalation (PutUserPolicy)",
        },
    )
    page = text(client.get(f"/inventory/users/{dev.pk}/"))
    assert ">2</span>" in escalations()
    assert "what detection found with the account's other roles" in page
    Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.RESOLVED)
    assert "none" in escalations()


# AWS lets anyone who may tag their own role or user (iam:TagRole, iam:TagUser) name a tag
# `items`; a template's `tags.items` looks the key up before the dict's method.


def test_a_role_tagged_items_keeps_its_page_and_shows_every_tag(client, reviewer, production):
    role = iam_role(production, "legacy-batch", tags={"owner": "attacker", "items": "x"})
    client.force_login(reviewer)
    client.raise_request_exception = False

    response = client.get(f"/inventory/roles/{role.pk}/")

    assert response.status_code == 200
    assert "items=x" in text(response) and "owner=attacker" in text(response)


def test_a_user_tagged_items_with_an_empty_value_still_shows_its_tags(client, reviewer, production):
    user = iam_user(production, "alice", tags={"iamreview:exclude": "ok", "items": ""})
    client.force_login(reviewer)

    content = text(client.get(f"/inventory/users/{user.pk}/"))

    assert "iamreview:exclude=ok" in content and "items=" in content
