"""The Findings list sorted by resource reads past case on SQLite (`make run`), as PostgreSQL
does under the usual collations; on PostgreSQL the statement, and its plan, stay as they were."""

import pytest

from findings.detection.selectors import FindingFilters, filtered_findings
from tests.conftest import run_on_sqlite

# Built the same way on either database: here (PostgreSQL) and in a child process (SQLite).
# Inserted out of order, so that the ids say nothing of the names.
BUILD = """
from django.utils import timezone
from findings.collection.registry import add_account
from findings.models import Finding

INSERTED = ["Delta", "alpha", "ECHO", "charlie", "Bravo"]


def build():
    account = add_account(account_id="111122223333", name="Production")
    now = timezone.now()
    Finding.objects.bulk_create(
        Finding(
            account=account,
            check_id="role-unused",
            resource_key=f"arn:aws:iam::111122223333:role/{name}#role-unused",
            resource_arn=f"arn:aws:iam::111122223333:role/{name}",
            resource_type="role",
            resource_name=name,
            title="Role unused",
            severity="medium",
            severity_rank=2,
            status=Finding.Status.OPEN,
            evidence={},
            evidence_fingerprint="x",
            rule_version="2026.11",
            thresholds={},
            first_seen_at=now,
            last_seen_at=now,
        )
        for name in INSERTED
    )
"""

CHILD = """
{build}
from django.test import Client
from django.test.utils import setup_test_environment

from accounts.people import create_person
from accounts.permissions import Role
from findings.detection.selectors import FindingFilters, filtered_findings

setup_test_environment()  # the test client's host, and the context of its responses
build()
reviewer, _ = create_person(
    email="r@example.com", roles=[Role.REVIEWER], password="correct horse battery 9"
)
client = Client()
client.force_login(reviewer)
seen = {{}}
for sort in ("resource", "-resource"):
    names = [f.resource_name for f in filtered_findings(filters=FindingFilters(sort=sort))]
    page = client.get("/findings/", {{"sort": sort}}).context["page"]
    seen[sort] = {{"read": names, "page": [f.resource_name for f in page.object_list]}}
print(json.dumps(seen))
"""

CASELESS = ["alpha", "Bravo", "charlie", "Delta", "ECHO"]


def test_sorting_by_resource_on_sqlite_reads_past_case(tmp_path):
    """Byte by byte, it was Bravo, Delta, ECHO, alpha, charlie."""
    seen = run_on_sqlite(CHILD.format(build=BUILD), tmp_path)
    assert seen == {
        "resource": {"read": CASELESS, "page": CASELESS},
        "-resource": {"read": CASELESS[::-1], "page": CASELESS[::-1]},
    }


@pytest.mark.parametrize(
    ("sort", "order_by"),
    [
        ("resource", '"resource_name" ASC, "findings_finding"."id" ASC'),
        ("-resource", '"resource_name" DESC, "findings_finding"."id" DESC'),
    ],
)
def test_postgres_sorts_by_the_column_itself(postgres, db, sort, order_by):
    """No lower-casing there: the database's collation decides, and the statement is the one
    the list's plans were measured with."""
    namespace = {}
    exec(BUILD, namespace)  # noqa: S102 - our own test code, shared with the SQLite child
    namespace["build"]()

    findings = filtered_findings(filters=FindingFilters(sort=sort))

    statement = str(findings.query)
    assert statement.endswith(f'ORDER BY "findings_finding".{order_by}')
    assert "LOWER(" not in statement
    assert sorted(f.resource_name for f in findings) == sorted(CASELESS)
