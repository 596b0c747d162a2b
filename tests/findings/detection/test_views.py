"""The Findings pages: filtering, sorting, paging, htmx partials, exports, one finding explained."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from findings.collection.imports import import_file
from findings.detection.detect import detect_account
from findings.detection.selectors import FindingFilters, finding_records, severity_counts
from findings.models import Finding, Source
from findings.models.findings import SEVERITY_RANK
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    DATA,
    PUBLIC_BUCKET,
    aa_sample,
    active_key,
    attach,
    console_password,
    credential_entry,
    iam_role,
    make_account,
    succeeded_run,
)
from tests.findings.history import assert_bounded, rows_read_at_two_sizes

pytestmark = pytest.mark.django_db


def make_finding(account, name: str, *, severity="medium", check_id="role-unused", **fields):
    now = timezone.now()
    defaults = {
        "account": account,
        "check_id": check_id,
        "resource_key": f"arn:aws:iam::{account.account_id}:role/{name}#{check_id}",
        "resource_arn": f"arn:aws:iam::{account.account_id}:role/{name}",
        "resource_type": "role",
        "resource_name": name,
        "title": "Role unused",
        "severity": severity,
        "severity_rank": SEVERITY_RANK[severity],
        "severity_reason": "Unused roles keep permissions nobody needs",
        "status": Finding.Status.OPEN,
        "evidence": {"why": "last used 120 days ago"},
        "evidence_fingerprint": "x",
        "rule_version": "2026.11",
        "thresholds": {"unused_role_days": 90},
        "first_seen_at": now,
        "last_seen_at": now,
    }
    return Finding.objects.create(**{**defaults, **fields})


@pytest.fixture
def production():
    return make_account()


@pytest.fixture
def staging():
    return make_account("444455556666", "Staging")


@pytest.fixture
def some_findings(production, staging):
    return {
        "alpha": make_finding(production, "alpha", severity="critical", check_id="full-admin"),
        "bravo": make_finding(production, "bravo", severity="medium"),
        "charlie": make_finding(staging, "charlie", severity="low"),
        "delta": make_finding(production, "delta", status=Finding.Status.RESOLVED),
        "echo": make_finding(
            production,
            "echo",
            status=Finding.Status.EXCLUDED,
            exclusion_reason="Owned by the platform team until March",
        ),
    }


def rows(response) -> list[str]:
    """Resource names in the table, in order."""
    return [f.resource_name for f in response.context["page"].object_list]


# --- The list ---------------------------------------------------------------------------------


def test_open_findings_by_default_most_severe_first(client, reviewer, some_findings):
    client.force_login(reviewer)
    response = client.get("/findings/")
    assert response.status_code == 200
    assert rows(response) == ["alpha", "bravo", "charlie"]
    assert b"3 open findings" in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("account=444455556666", ["charlie"]),
        ("check=full-admin", ["alpha"]),
        ("severity=medium", ["bravo"]),
        ("status=resolved", ["delta"]),
        ("status=excluded", ["echo"]),
        ("status=all&sort=resource", ["alpha", "bravo", "charlie", "delta", "echo"]),
        ("q=RAV", ["bravo"]),
        ("q=role/charlie", ["charlie"]),
        ("status=bogus&sort=bogus", ["alpha", "bravo", "charlie"]),
        ("severity=bogus", ["alpha", "bravo", "charlie"]),
    ],
)
def test_filters(client, reviewer, some_findings, query, expected):
    client.force_login(reviewer)
    assert rows(client.get(f"/findings/?{query}")) == expected


def test_excluded_findings_show_their_reason(client, reviewer, some_findings):
    client.force_login(reviewer)
    response = client.get("/findings/?status=excluded")
    assert b"Owned by the platform team until March" in response.content


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("resource", ["alpha", "bravo", "charlie"]),
        ("-resource", ["charlie", "bravo", "alpha"]),
        ("-severity", ["charlie", "bravo", "alpha"]),
        ("account", ["alpha", "bravo", "charlie"]),
        ("check", ["alpha", "bravo", "charlie"]),
    ],
)
def test_sorting(client, reviewer, some_findings, sort, expected):
    client.force_login(reviewer)
    assert rows(client.get(f"/findings/?sort={sort}")) == expected


def test_column_headers_sort_and_a_second_click_reverses(client, reviewer, some_findings):
    client.force_login(reviewer)
    content = client.get("/findings/?sort=resource").content.decode()
    assert 'aria-sort="ascending"' in content
    assert 'href="/findings/?sort=-resource"' in content
    assert 'href="/findings/?sort=-first_seen"' in content


def test_severity_chips_count_and_filter(client, reviewer, some_findings):
    client.force_login(reviewer)
    response = client.get("/findings/?account=111122223333")
    chips = {chip["value"]: chip for chip in response.context["chips"]}
    assert chips[""]["count"] == 2
    assert chips["critical"]["count"] == 1
    assert chips["low"]["count"] == 0
    assert chips["critical"]["url"] == "/findings/?account=111122223333&severity=critical"


def test_pagination_fifty_a_page(client, reviewer, production):
    for n in range(120):
        make_finding(production, f"role-{n:03}")
    client.force_login(reviewer)

    first = client.get("/findings/?sort=resource")
    last = client.get("/findings/?sort=resource&page=3")

    assert len(rows(first)) == 50
    assert rows(last) == [f"role-{n:03}" for n in range(100, 120)]
    assert b"Page 1 of 3" in first.content
    assert b'href="/findings/?sort=resource&amp;page=2"' in first.content
    assert b"showing 101\xe2\x80\x93120" in last.content


def test_htmx_gets_only_the_table_and_the_full_page_renders_the_same_url(
    client, reviewer, some_findings
):
    client.force_login(reviewer)
    partial = client.get("/findings/?severity=low", headers={"HX-Request": "true"})
    full = client.get("/findings/?severity=low")

    assert partial.content.decode().lstrip().startswith('<div id="findings-table"')
    assert b"<html" not in partial.content
    assert b"findings-filters" not in partial.content
    assert b"charlie" in partial.content and b"alpha" not in partial.content
    assert b"<html" in full.content and b"charlie" in full.content
    assert '<option value="low" selected>' in full.content.decode()
    assert partial["Vary"] and "HX-Request" in partial["Vary"]


def test_history_restore_gets_the_full_page(client, reviewer, some_findings):
    client.force_login(reviewer)
    response = client.get(
        "/findings/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert b"<html" in response.content


def test_the_filter_form_updates_the_table_in_place(client, reviewer, some_findings):
    client.force_login(reviewer)
    content = client.get("/findings/").content.decode()
    assert 'hx-get="/findings/"' in content
    assert 'hx-trigger="change, keyup changed delay:300ms from:input[name=q]"' in content
    assert 'hx-target="#findings-table"' in content
    assert 'hx-push-url="true"' in content


@pytest.mark.parametrize("count", [5, 200])
def test_the_list_makes_a_fixed_number_of_queries(
    client, reviewer, production, staging, count, django_assert_max_num_queries
):
    for n in range(count):
        make_finding(production if n % 2 else staging, f"role-{n}", severity="high")
    client.force_login(reviewer)
    client.get("/findings/")  # warm the session and permission caches

    # The page's ids, then its rows (LateRows): two small queries however deep the page.
    with django_assert_max_num_queries(9):
        response = client.get("/findings/?status=all")

    assert len(rows(response)) == min(count, 50)


def test_empty_state_explains_what_to_do(client, reviewer, administrator):
    client.force_login(reviewer)
    response = client.get("/findings/")
    assert b"No open findings" in response.content
    assert b"collection status" in response.content

    filtered = client.get("/findings/?q=nothing-like-this")
    assert b"No open findings match these filters" in filtered.content
    assert b"Widen the filters" in filtered.content


def test_hostile_resource_names_are_escaped(client, reviewer, production):
    finding = make_finding(production, "<script>alert(1)</script>")
    client.force_login(reviewer)
    for url in ("/findings/", f"/findings/{finding.pk}/"):
        content = client.get(url).content
        assert b"<script>alert(1)</script>" not in content, url
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in content, url


def test_people_without_a_role_cannot_see_findings(client, outsider, some_findings):
    client.force_login(outsider)
    assert client.get("/findings/").status_code == 403
    assert client.get("/findings/export.csv").status_code == 403
    assert client.get(f"/findings/{some_findings['alpha'].pk}/").status_code == 403


# --- Exports ----------------------------------------------------------------------------------


def test_an_export_of_nothing_is_still_a_valid_file(client, auditor, production):
    client.force_login(auditor)
    empty_json = client.get("/findings/export.json")
    assert json.loads(b"".join(empty_json.streaming_content)) == []
    empty_csv = client.get("/findings/export.csv")
    assert b"".join(empty_csv.streaming_content) == b"\r\n"


def test_csv_export_holds_the_filtered_set_with_formulas_neutralized(
    client, auditor, production, staging
):
    make_finding(production, "=cmd|' /C calc'!A0")
    make_finding(production, "+plain")
    make_finding(staging, "elsewhere")
    client.force_login(auditor)

    response = client.get("/findings/export.csv?account=111122223333&sort=resource")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="iamreview-findings-')
    assert response["Content-Disposition"].endswith('.csv"')
    assert isinstance(response, StreamingHttpResponse)  # rows go out as they are read
    records = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["resource_name"] for r in records] == ["'+plain", "'=cmd|' /C calc'!A0"]
    assert {r["account"] for r in records} == {"111122223333"}


def test_csv_export_cells_hold_the_evidence_and_thresholds_as_json(client, reviewer, production):
    evidence = {"why": "=not a formula inside JSON", "names": ["é", "🔑"], "days": 120}
    make_finding(production, "dev", evidence=evidence)
    client.force_login(reviewer)

    response = client.get("/findings/export.csv?status=all")

    [record] = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert json.loads(record["evidence"]) == evidence
    assert isinstance(json.loads(record["thresholds"]), dict)


def test_exports_say_a_finding_was_closed_because_its_region_is_no_longer_monitored(
    client, reviewer, production
):
    make_finding(
        production,
        "closed",
        status="resolved",
        resolved_at=timezone.now(),
        resolution="region_not_monitored",
    )
    make_finding(production, "fixed", status="resolved", resolved_at=timezone.now())
    client.force_login(reviewer)

    response = client.get("/findings/export.json?status=resolved&sort=resource")
    records = json.loads(b"".join(response.streaming_content))
    assert [(r["resource_name"], r["resolution"]) for r in records] == [
        ("closed", "region_not_monitored"),
        ("fixed", None),
    ]
    response = client.get("/findings/export.csv?status=resolved&sort=resource")
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert [r["resolution"] for r in rows] == ["region_not_monitored", ""]


def test_json_export_holds_the_filtered_set(client, reviewer, some_findings):
    client.force_login(reviewer)
    response = client.get("/findings/export.json?status=all&severity=medium&sort=resource")
    assert response["Content-Disposition"].endswith('.json"')
    assert isinstance(response, StreamingHttpResponse)
    records = json.loads(b"".join(response.streaming_content))
    assert [r["resource_name"] for r in records] == ["bravo", "delta", "echo"]
    assert records[2]["exclusion_reason"] == "Owned by the platform team until March"
    assert records[0]["evidence"] == {"why": "last used 120 days ago"}


def test_export_links_carry_the_current_filters(client, reviewer, some_findings):
    client.force_login(reviewer)
    response = client.get("/findings/?severity=low&q=char")
    assert response.context["csv_url"] == "/findings/export.csv?severity=low&q=char"
    assert response.context["json_url"] == "/findings/export.json?severity=low&q=char"


# --- One finding ------------------------------------------------------------------------------


def detected(account, check_id: str) -> Finding:
    detect_account(account=account)
    return Finding.objects.get(account=account, check_id=check_id)


def test_finding_page_explains_the_check_severity_rules_and_thresholds(
    client, reviewer, production
):
    succeeded_run(production, Source.CREDENTIAL_REPORT, at=timezone.now())
    credential_entry(production, "bob", **active_key(created_days=400, used_days=None))
    finding = detected(production, "access-key-unused")
    client.force_login(reviewer)

    content = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "Active access key unused" in content
    assert "Deactivate the key, then delete it if nothing breaks." in content  # the fix
    assert "CIS AWS Foundations Benchmark v3.0.0 1.12" in content
    assert "Unused keys are risk without benefit" in content  # severity reason
    assert f"Version {finding.rule_version}" in content
    assert "A credential counts as unused after 45 days" in content
    assert "New credentials and principals get 14 days of grace" in content
    # Never used and active: AWS's N/A reads as "never used", not "no such credential".
    assert "never used" in content
    assert "<time datetime=" in content


def test_a_finding_closed_because_its_region_is_no_longer_monitored_says_so(
    client, reviewer, production
):
    finding = make_finding(
        production,
        "eu-bucket",
        status=Finding.Status.RESOLVED,
        resolved_at=timezone.now(),
        resolution=Finding.Resolution.REGION_NOT_MONITORED,
    )
    client.force_login(reviewer)

    content = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "(region no longer monitored: closed, not shown fixed)" in content


def test_absent_dates_show_the_reason_in_words(client, reviewer, production):
    succeeded_run(production, Source.CREDENTIAL_REPORT, at=timezone.now())
    credential_entry(production, "carol", **console_password(used_days=None, changed_days=400))
    finding = detected(production, "password-unused")
    client.force_login(reviewer)

    content = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "never used (or not since AWS began tracking)" in content


def test_unused_role_page_speaks_of_the_tracking_window_and_links_the_role(
    client, reviewer, production
):
    run = succeeded_run(production, Source.AUTHORIZATION_DETAILS, at=timezone.now())
    role = iam_role(production, "legacy-batch", created_days=2000)
    finding = detected(production, "role-unused")
    client.force_login(reviewer)

    content = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "Not used within AWS&#x27;s ~400-day tracking window" in content
    assert f'href="/inventory/roles/{role.pk}/"' in content
    assert "Opened" in content
    assert run.pk  # the run is linked once it resolves the finding (below)


def test_timeline_links_the_run_that_resolved_the_finding(client, reviewer, production):
    succeeded_run(production, Source.AUTHORIZATION_DETAILS, at=timezone.now())
    role = iam_role(production, "legacy-batch", created_days=2000)
    finding = detected(production, "role-unused")
    later = succeeded_run(
        production, Source.AUTHORIZATION_DETAILS, at=timezone.now() + timedelta(minutes=5)
    )
    role.last_used_at = timezone.now()
    role.save()
    detect_account(account=production)
    client.force_login(reviewer)

    content = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "Resolved" in content
    assert f"(run {later.pk})" in content
    assert f'href="/collection/accounts/{production.pk}/"' in content


def test_access_analyzer_finding_shows_aws_status_beside_ours_and_its_details(
    client, reviewer, production
):
    import_file(
        account=production,
        kind="access-analyzer-findings",
        data=(DATA / "access-analyzer-get-finding-v2.json").read_bytes(),
    )
    import_file(
        account=production,
        kind="access-analyzer-findings",
        data=aa_sample(**{PUBLIC_BUCKET: {"status": "ARCHIVED"}}),
    )
    public = Finding.objects.get(check_id="access-analyzer:ExternalAccess")
    unused = Finding.objects.get(check_id="access-analyzer:UnusedPermission")
    client.force_login(reviewer)

    content = client.get(f"/findings/{public.pk}/").content.decode()
    assert "Archived in AWS" in content
    assert "It stays open here until a reviewer keeps it" in content
    assert "Open" in content
    assert "Yes: anyone on the internet" in content
    assert "s3:GetObject" in content
    assert "Public access: anyone on the internet" in content

    content = client.get(f"/findings/{unused.pk}/").content.decode()
    assert "dynamodb:DeleteTable" in content
    assert "not within the tracking period" in content
    assert "Active in AWS" in content


def test_full_admin_finding_pretty_prints_the_statement(client, reviewer, production):
    succeeded_run(production, Source.AUTHORIZATION_DETAILS, at=timezone.now())
    role = iam_role(production, "deployer", last_used_days=1)
    attach(production, role, ADMIN_POLICY, name="everything")
    finding = detected(production, "full-admin")
    client.force_login(reviewer)

    content = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "<pre>{\n  &quot;Action&quot;: &quot;*&quot;,\n  &quot;Effect&quot;" in content
    assert "everything" in content


def test_unknown_finding_is_404(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/findings/999999/").status_code == 404


def test_severity_counts_are_counted_once_per_change_of_the_findings(
    client, reviewer, production, django_assert_num_queries
):
    for n in range(3):
        make_finding(production, f"role-{n}", severity="high")
    filters = FindingFilters(status="all")
    assert severity_counts(filters=filters)["high"] == 3

    with django_assert_num_queries(1):  # the version only: the counts come from the cache
        assert severity_counts(filters=filters)["high"] == 3

    make_finding(production, "role-new", severity="critical")
    assert severity_counts(filters=filters) == {"critical": 1, "high": 3, "medium": 0, "low": 0}


def test_pages_stop_at_a_bounded_offset_and_say_how_to_reach_the_rest(
    client, reviewer, production, settings
):
    settings.FINDINGS_LIST_MAX_ROWS = 100
    for n in range(120):
        make_finding(production, f"role-{n:03}", severity="low")
    client.force_login(reviewer)

    page = client.get("/findings/", {"page": 9}).content.decode()

    assert "120 open findings" in page
    assert "Page 2 of 2 (the first 100: filter, sort or export to reach the rest)" in page


def test_the_rendered_list_is_reused_until_the_findings_change(
    client, reviewer, administrator, production, django_assert_max_num_queries
):
    """Repeated views of the same list read it from the cache (no list queries); a new finding
    moves the findings' version and the next view shows it; what a person may do is part of
    the key (the list's hints differ)."""
    make_finding(production, "alpha", severity="high")
    client.force_login(reviewer)
    first = client.get("/findings/").content.decode()
    assert "alpha" in first
    with django_assert_max_num_queries(4) as repeat:  # session, user, permissions, version
        again = client.get("/findings/").content.decode()
    assert not [
        q
        for q in repeat.captured_queries
        if "findings_finding" in q["sql"] and "MAX" not in q["sql"]
    ]
    assert again.count("alpha") == first.count("alpha")

    make_finding(production, "zulu", severity="critical")
    fresh = client.get("/findings/").content.decode()
    assert "zulu" in fresh and fresh.index("zulu") < fresh.index("alpha")

    client.force_login(administrator)
    # An administrator's capabilities differ: their own rendering, not the reviewer's.
    with django_assert_max_num_queries(12) as other:
        assert "zulu" in client.get("/findings/").content.decode()
    assert any(
        "findings_finding" in q["sql"] and "MAX" not in q["sql"] for q in other.captured_queries
    )


def test_a_list_of_records_in_the_evidence_reads_as_facts_not_python(client, reviewer, production):
    """A list of records (an escalation's methods were one, before they had their own
    rendering): each shown with its labelled facts (it printed "{'actions': [...],
    'conditional': False}")."""
    record = {
        "method": "EditExistingLambdaFunctionWithRole",
        "actions": ["lambda:UpdateFunctionCode"],
        "conditional": False,
        "targets": [],
    }
    finding = make_finding(production, "dev", evidence={"records": [record, record]})
    client.force_login(reviewer)
    page = client.get(f"/findings/{finding.pk}/").content.decode()
    assert "{&#x27;" not in page and "{'" not in page
    assert "<li>Actions: lambda:UpdateFunctionCode</li>" in page
    assert "<li>Conditional: No</li>" in page and "<li>Targets: none</li>" in page


def test_an_escalation_finding_reads_as_ways_to_escalate(client, reviewer, production):
    """It read "Actions: ... Conditional: No Method: EditExistingLambdaFunctionWithRole Source:
    ... Targets: arn..., Path: none recorded": an id, not words, and the method third."""
    target = f"arn:aws:iam::{production.account_id}:role/orders-<b>cron"
    finding = make_finding(
        production,
        "dev",
        check_id="privilege-escalation",
        evidence={
            "methods": [
                {
                    "method": "EditExistingLambdaFunctionWithRole",
                    "source": "Rhino Security Labs",
                    "actions": ["lambda:UpdateFunctionCode"],
                    "targets": [target],
                    "conditional": False,
                }
            ],
            "path": None,
            "boundary": None,
            "library": "policy_sentry 0.15.2",
        },
    )
    client.force_login(reviewer)

    page = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "Ways to escalate" in page
    assert "<strong>Edit existing Lambda function with role</strong>" in page
    assert "<code>lambda:UpdateFunctionCode</code>" in page
    assert "role/orders-&lt;b&gt;cron" in page and "<b>cron" not in page
    assert "Chain of roles to an administrator" in page


def escalation_page(client, reviewer, account, principal: str, **evidence) -> str:
    """A privilege-escalation finding's page, its evidence as detection writes it."""
    finding = make_finding(
        account,
        principal,
        check_id="privilege-escalation",
        evidence={"path": None, "boundary": None, **evidence},
    )
    client.force_login(reviewer)
    return client.get(f"/findings/{finding.pk}/").content.decode()


def test_an_escalation_finding_says_how_many_more_targets_it_reaches(client, reviewer, production):
    page = escalation_page(
        client,
        reviewer,
        production,
        "ci",
        methods=[
            {
                "method": "PassExistingRoleToNewLambdaThenInvoke",
                "source": "Rhino Security Labs",
                "actions": ["iam:PassRole"],
                "targets": [f"arn:aws:iam::{production.account_id}:role/app-1"],
                "targets_total": 61,
                "conditional": False,
            }
        ],
    )
    assert "role/app-1</span> and 60 more" in page


def test_an_escalation_finding_names_the_deny_a_method_takes_off(client, reviewer, production):
    page = escalation_page(
        client,
        reviewer,
        production,
        "alice",
        methods=[
            {
                "method": "DeleteOwnUserPolicyWithDeny",
                "source": "AWS IAM User Guide",
                "actions": ["iam:DeleteUserPolicy"],
                "targets": [f"arn:aws:iam::{production.account_id}:user/alice"],
                "conditional": False,
                "removes": ["guard<1>"],
            }
        ],
    )
    assert "; takes off the Deny in guard&lt;1&gt;" in page


def test_an_escalation_finding_says_which_ways_the_organization_scps_block(
    client, reviewer, production
):
    finding = make_finding(
        production,
        "dev",
        check_id="privilege-escalation",
        evidence={
            "methods": [],
            "path": "user/dev -> role/admin -> admin",
            "boundary": None,
            "scps": ["FullAWSAccess", "Protect<IAM>"],
            "blocked_by_scps": [
                {
                    "method": "CreateNewPolicyVersion",
                    "why": "denied by SCP Protect<IAM> (OU Workloads (ou-ab12-workload))",
                }
            ],
        },
    )
    client.force_login(reviewer)

    page = client.get(f"/findings/{finding.pk}/").content.decode()

    assert "Organization SCPs weighed" in page and "FullAWSAccess, Protect&lt;IAM&gt;" in page
    assert "Ways the SCPs block" in page
    assert (
        "<li><strong>Create new policy version</strong>: denied by SCP Protect&lt;IAM&gt; "
        "(OU Workloads (ou-ab12-workload))</li>"
    ) in page
    assert "Protect<IAM>" not in page


@pytest.mark.parametrize("query", ["severity=zzz", "status=gone", "sort=evil", "severity=Critical"])
def test_an_export_with_a_filter_value_it_does_not_know_is_refused(
    client, auditor, some_findings, query
):
    """It exported every finding: a script asking for the critical ones got them all."""
    client.force_login(auditor)
    for fmt in ("csv", "json"):
        response = client.get(f"/findings/export.{fmt}?{query}")
        assert response.status_code == 400
        assert "choose from" in response.content.decode()
    assert client.get("/findings/export.csv?severity=critical").status_code == 200


def test_a_findings_export_does_not_read_every_successful_run():
    """Each export (CSV/JSON, API) dates its open findings' "last seen" by their account's
    latest successful collection: one per account, not every one ever made."""
    short, long = rows_read_at_two_sizes(
        lambda accounts: list(finding_records(findings=Finding.objects.all()))
    )
    assert_bounded(short, long)
