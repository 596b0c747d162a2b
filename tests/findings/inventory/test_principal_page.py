"""A principal's page stays readable for an administrator: used services first, the hundreds
of unused ones folded once, and risk counts that say what they count."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from findings.detection.detect import detect_account
from findings.models import ServiceLastAccessed, Source
from findings.policy.actions import services
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    attach,
    iam_role,
    iam_user,
    make_account,
    observed,
    succeeded_run,
)

pytestmark = pytest.mark.django_db

USED = {"sqs": 1, "s3": 2, "ec2": 10}  # namespace: days since last use


@pytest.fixture
def production():
    """Collected just now: the Least privilege section judges fresh usage only."""
    account = make_account()
    for source in Source:
        succeeded_run(account, source, at=timezone.now())
    return account


def service_row(account, principal, namespace: str, *, used_days: float | None):
    now = timezone.now()
    return ServiceLastAccessed.objects.create(
        account=account,
        principal_arn=principal.arn,
        service_namespace=namespace,
        service_name=namespace.upper(),
        last_authenticated_at=None if used_days is None else now - timedelta(days=used_days),
        **observed(now),
    )


def administrator_role(account, *, unused: int, name: str = "admin"):
    role = iam_role(account, name, created_days=2000, last_used_days=1)
    attach(account, role, ADMIN_POLICY, name="AdministratorAccess")
    for namespace, days in USED.items():
        service_row(account, role, namespace, used_days=days)
    for n, namespace in enumerate(unused_namespaces(unused)):
        service_row(account, role, namespace, used_days=None if n % 2 else 400)
    return role


def unused_namespaces(count: int) -> list[str]:
    """Real services (the action database's), so that the Least privilege section judges them."""
    names = [name for name in sorted(services()) if name not in USED][:count]
    assert len(names) == count
    return names


def section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    return page[start : page.index("</section>", start)]


def test_used_services_come_first_and_the_unused_are_folded_with_their_count(
    client, reviewer, production
):
    role = administrator_role(production, unused=60)
    detect_account(account=production)
    client.force_login(reviewer)

    page = unescape(client.get(f"/inventory/roles/{role.pk}/").content.decode())
    services = section(page, "services-heading")

    folded_at = services.index('<details class="services-unused">')
    listed, folded = services[:folded_at], services[folded_at:]
    # Used, most recent first, in the open table; none of the unused there.
    assert [listed.index(f"<code>{ns}</code>") for ns in ("sqs", "s3", "ec2")] == sorted(
        listed.index(f"<code>{ns}</code>") for ns in ("sqs", "s3", "ec2")
    )
    assert 'class="unused"' not in listed
    assert not [ns for ns in unused_namespaces(60) if f"<code>{ns}</code>" in listed]
    assert "60 services not used within 90 days</summary>" in folded
    assert folded.count('<tr class="unused">') == 60
    assert "<code>s3</code>" not in folded
    assert "3 used within 90 days, most recent first; 60 not." in services


def test_the_least_privilege_section_lists_used_services_first(client, reviewer, production):
    role = administrator_role(production, unused=30)
    detect_account(account=production)
    client.force_login(reviewer)

    response = client.get(f"/inventory/roles/{role.pk}/")

    verdicts = [s["verdict"] for s in response.context["least_privilege_services"]]
    assert verdicts and "used" in verdicts and "unused" in verdicts
    assert verdicts == sorted(verdicts, key=lambda verdict: verdict != "used")
    page = unescape(response.content.decode())
    # The unused ones are folded in the services table above, and past the first 20 in the
    # Least privilege section.
    assert verdicts.count("unused") == 20
    folded = response.context["least_privilege_folded"]
    assert [s["verdict"] for s in folded].count("unused") == 10
    assert page.count('<tr class="unused">') == 30 + 30
    assert section(page, "services-heading").count('<tr class="unused">') == 30
    assert '<details class="services-unused">' in section(page, "services-heading")


def test_a_principal_with_no_used_service_says_so(client, reviewer, production):
    user = iam_user(production, "idle")
    service_row(production, user, "dynamodb", used_days=None)
    client.force_login(reviewer)

    page = unescape(client.get(f"/inventory/users/{user.pk}/").content.decode())

    services = section(page, "services-heading")
    assert "None of its 1 service was used within 90 days." in services
    assert "1 service not used within 90 days</summary>" in services


def test_risk_counts_say_what_they_count(client, reviewer, production):
    role = administrator_role(production, unused=0)
    client.force_login(reviewer)

    page = unescape(client.get(f"/inventory/roles/{role.pk}/").content.decode())

    risks = section(page, "risks-heading")
    change = risks[risks.index("<dt>Infrastructure change</dt>") :].split("</dd>")[0]
    assert re.search(r'<span class="badge sev-high">\d{1,3}(,\d{3})+</span> actions', change)
    assert "Write actions" in change
    exfiltration = risks[risks.index("<dt>Data exfiltration</dt>") :].split("</dd>")[0]
    assert re.search(r"</span> actions", exfiltration)
    escalation = risks[risks.index("<dt>Privilege escalation</dt>") :].split("</dd>")[0]
    assert "already an administrator" in escalation
    assert "ways to escalate" not in escalation


def test_the_risk_summary_counts_escalations_in_ways_not_actions(client, reviewer, production):
    user = iam_user(production, "escalator")
    attach(
        production,
        user,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": "*"}],
        },
    )
    client.force_login(reviewer)

    page = unescape(client.get(f"/inventory/users/{user.pk}/").content.decode())

    risks = section(page, "risks-heading")
    escalation = risks[risks.index("<dt>Privilege escalation</dt>") :].split("</dd>")[0]
    assert re.search(r"</span> ways? to escalate", escalation)
    assert "actions" not in escalation.split('<div class="help">')[0]


def test_the_role_page_reads_as_many_queries_for_400_services_as_for_4(
    client, reviewer, production
):
    small = administrator_role(production, unused=4, name="small-admin")
    large = administrator_role(production, unused=400, name="large-admin")
    detect_account(account=production)
    client.force_login(reviewer)
    client.get(f"/inventory/roles/{small.pk}/")  # warm what is cached per process

    counted = []
    for role in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/inventory/roles/{role.pk}/")
        assert response.status_code == 200
        counted.append(len(queries.captured_queries))

    assert counted[0] == counted[1]


def test_only_short_policies_of_its_own_are_shown_open(client, reviewer, production):
    """AWS's ReadOnlyAccess, open like the first three, ran the page to 80,000 pixels."""
    role = iam_role(production, "reader", created_days=2000, last_used_days=1)
    small = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
    attach(production, role, small, name="a-own")
    long = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": f"{ns}:Get*", "Resource": "*"}
            for ns in unused_namespaces(40)
        ],
    }
    attach(production, role, long, name="b-long")
    attach(
        production,
        role,
        small,
        kind="managed",
        name="ReadOnlyAccess",
        ref="arn:aws:iam::aws:policy/ReadOnlyAccess",
    )
    client.force_login(reviewer)

    page = client.get(f"/inventory/roles/{role.pk}/").content.decode()

    policies = section(page, "policies-heading")
    opened = re.findall(r'<details class="policy" open>\s*<summary>\s*<strong>([^<]+)', policies)
    folded = re.findall(r'<details class="policy">\s*<summary>\s*<strong>([^<]+)', policies)
    assert opened == ["a-own"]
    assert sorted(folded) == ["ReadOnlyAccess", "b-long"]
