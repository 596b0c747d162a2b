"""Write paths (POST pages, the API, the admin) against the product rules: a selection is
taken whole or refused, a body says each field once, every change of a connection is audited,
and odd input is a form error."""

import json

import pytest
from django.test import Client

from accounts.tokens import create_token
from findings.collection.registry import add_account
from findings.models import AuditEntry, AwsAccount, Decision, Webhook
from tests.findings.api.test_api import make_account as api_account
from tests.findings.api.test_api import release_cycle
from tests.findings.reviews.test_views import item_of, quarterly_cycle

pytestmark = pytest.mark.django_db

OVERFLOWING_ID = "99999999999999999999"  # 20 digits: past PostgreSQL's bigint


def web(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# --- 1. Bulk decision: an id that is not an id is dropped, the rest decided ---------------------


@pytest.mark.parametrize("bad_id", [OVERFLOWING_ID, "-1", "1e3", "abc", "٣"])
def test_a_bulk_decision_naming_an_id_that_is_no_id_decides_nothing(reviewer, bad_id):
    """README: "A refused bulk decision decides nothing ... items that are not in this cycle
    (by id)". An overflowing, negative or non-numeric id names no item of this cycle, yet
    selected_ids() dropped it silently and decided the other selected items."""
    cycle = quarterly_cycle(users=("alice", "bob"), with_findings=())
    bob = item_of(cycle, "bob")
    before = AuditEntry.objects.count()
    response = web(reviewer).post(
        f"/review/cycles/{cycle.pk}/bulk/",
        {
            "items": [str(bob.pk), bad_id],
            "decision": "keep",
            "justification": "Needed for the on-call rota",
            "seen_at": "2026-01-01 00:00:00",
        },
    )
    assert response.status_code in (302, 400)
    assert Decision.objects.filter(item=bob).count() == 0, "an item was decided"
    assert AuditEntry.objects.count() == before


# --- 2. API: duplicate JSON keys are taken silently (the last wins) -----------------------------


def test_an_api_decision_with_a_duplicated_key_is_refused(reviewer):
    """The API refuses a query parameter given twice (ninja "would silently take the last"), but
    a body naming a field twice was recorded with whichever value came last: a reader of the
    first part (a proxy, a log cut short) saw "keep" where "remediate" was recorded."""
    cycle = release_cycle(api_account(), reviewer)
    item = cycle.items.order_by("id").first()
    _, raw = create_token(user=reviewer, name="pipeline")
    response = Client().post(
        f"/api/items/{item.pk}/decisions",
        '{"decision": "keep", "justification": "In use by the checkout service",'
        ' "decision": "remediate"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 400, (response.status_code, response.json())
    assert "decision" in json.dumps(response.json())
    assert not Decision.objects.filter(item=item).exists()


# --- 3. An account's ExternalId changed without an audit entry ----------------------------------


def test_changing_an_accounts_external_id_is_audited(administrator):
    """The ExternalId is how iamreview connects to the account (the role's trust condition).
    The audit view keeps only `external_id_set`, so replacing one ExternalId with another was
    no change to the audit log: the page said "Saved" and nothing was recorded."""
    account = add_account(
        account_id="222233334444",
        name="Two",
        external_id="first-external-id",
        regions=["us-east-1"],
    )
    before = AuditEntry.objects.count()
    response = web(administrator).post(
        f"/collection/accounts/{account.pk}/edit/",
        {"name": "Two", "external_id": "second-external-id", "regions": "us-east-1"},
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.external_id == "second-external-id"  # the change was made
    entries = AuditEntry.objects.filter(pk__gt=0).order_by("id")[before:]
    assert [e.action for e in entries] == ["aws_account.updated"]
    assert entries[0].after == {"external_id_replaced": True}
    assert "second-external-id" not in json.dumps([e.after for e in entries])  # not the value


# --- 4. Account ids (and ARNs) in other scripts' digits are stored ------------------------------


@pytest.mark.parametrize("account_id", ["１２３４５６７８９０１２", "١٢٣٤٥٦٧٨٩٠١٢"])
def test_an_account_id_in_non_ascii_digits_is_refused(administrator, account_id):
    """`\\d` also matches other scripts' digits: fullwidth or Arabic-Indic ones passed, and an
    account no AWS ARN can name was registered (and audited as added)."""
    response = web(administrator).post(
        "/collection/accounts/new/", {"account_id": account_id, "name": "Odd"}
    )
    assert response.status_code == 200  # the form again, with its error
    assert not AwsAccount.objects.filter(name="Odd").exists()


# --- 5. Webhook events: any JSON is stored, and one bad webhook stops every webhook -------------


@pytest.mark.parametrize(
    "events",
    ["5", '"finding.critical"', '{"a": 1}', '["finding.critcal"]']
    + ["9" * 5000, "[" * 100_000 + "]" * 100_000],
)
def test_the_admin_refuses_webhook_events_that_are_not_known_event_names(administrator, events):
    """Events were a bare JSON field in the admin: it stored a number, a string, an object or
    a misspelt event. With 5 `Webhook.wants` raised TypeError inside queue_webhook_events, so
    no active webhook got any event; a string matched by substring; a typo never fired. An
    integer past Python's 4,300-digit limit or nesting past the recursion limit was a 500 (the
    JSON form field catches JSONDecodeError only). The events are now ticked from the known
    ones."""
    response = web(administrator).post(
        "/admin/findings/webhook/add/",
        {
            "name": "Ticketing",
            "url": "https://tickets.example.com/hook",
            "secret": "s3cret-s3cret",
            "format": "json",
            "events": events,
            "is_active": "on",
        },
    )
    assert response.status_code == 200, "saved (302) instead of showing the form's error"
    assert not Webhook.objects.exists()


def test_one_webhook_with_odd_events_does_not_stop_the_others(administrator):
    """A value set by hand in the database (events = 5) broke queueing for every webhook."""
    from django.utils import timezone

    from findings.notifications.webhooks import queue_webhook_events
    from tests.findings.notifications.test_digests import make_cycle
    from tests.findings.reviews.test_evidence import make_account

    Webhook.objects.create(name="Odd", url="https://a.example.com/", secret="s", events=5)
    good = Webhook.objects.create(name="Good", url="https://b.example.com/", secret="s")
    Webhook.objects.update(created_at=timezone.now() - timezone.timedelta(days=30))
    make_cycle(make_account(), "Q3 credentials", due_in=-2)  # an overdue cycle: one event
    queue_webhook_events()  # was a TypeError: argument of type 'int' is not iterable
    assert good.deliveries.exists()


def test_assigning_items_of_another_cycle_is_refused_and_assigns_nothing(reviewer, second_reviewer):
    """The assign form filtered the selection to this cycle's items and assigned the rest: an
    id of another cycle (or no id at all) was dropped without a word, and the page reported
    "Assigned 1 item". Like the bulk form, it now refuses the selection whole."""
    cycle = quarterly_cycle(users=("alice", "bob"), with_findings=())
    bob = item_of(cycle, "bob")
    from findings.reviews.services import open_cycle

    other = open_cycle(kind="quarterly", opened_by=None, period="2027-Q1")
    elsewhere = other.items.first()
    before = AuditEntry.objects.count()
    response = web(reviewer).post(
        f"/review/cycles/{cycle.pk}/assign/",
        {
            "items": [str(bob.pk), str(elsewhere.pk), OVERFLOWING_ID],
            "assignee": str(second_reviewer.pk),
        },
    )
    assert response.status_code in (302, 400)
    bob.refresh_from_db()
    assert bob.assignee_id is None, "assigned although the selection named items not in the cycle"
    assert AuditEntry.objects.count() == before


def test_editing_a_webhook_that_heard_no_known_event_asks_which_it_should_hear(administrator):
    """Saved with nothing ticked it would mean every event: a webhook that heard nothing (a
    misspelt event) would start posting everything, for a change of its URL."""
    webhook = Webhook.objects.create(
        name="tickets", url="https://hooks.example.com/t", secret="s", events=["decision.remedy"]
    )
    form = {"name": "tickets", "url": "https://hooks.example.com/new", "secret": "s"}
    form |= {"format": "json", "is_active": "on"}
    client = web(administrator)
    page = client.get(f"/admin/findings/webhook/{webhook.pk}/change/").content.decode()
    assert "decision.remedy" in page  # told what it lists that iamreview does not send

    refused = client.post(f"/admin/findings/webhook/{webhook.pk}/change/", form)
    assert refused.status_code == 200 and "heard no event" in refused.content.decode()
    webhook.refresh_from_db()
    assert webhook.url == "https://hooks.example.com/t"

    saved = client.post(
        f"/admin/findings/webhook/{webhook.pk}/change/", form | {"events": ["decision.remediate"]}
    )
    assert saved.status_code == 302
    webhook.refresh_from_db()
    assert webhook.events == ["decision.remediate"]
