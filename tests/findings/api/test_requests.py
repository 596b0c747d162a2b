"""What test_api.py leaves implicit: caching, size limits, the order of checks, and answers
written exactly as before (timestamps as datetime.isoformat() writes them)."""

import pytest

from accounts.tokens import create_token
from findings.detection.selectors import finding_record
from findings.models import Finding
from tests.findings.api.test_api import Api, items_of, release_cycle
from tests.findings.detection.test_detect import make_account


def api_for(client, user) -> Api:
    _, raw = create_token(user=user, name="tests")
    return Api(client, raw)


@pytest.fixture
def cycle(db, reviewer):
    return release_cycle(make_account(), reviewer)


@pytest.mark.django_db
def test_no_api_answer_is_cached(client, auditor, cycle):
    api = api_for(client, auditor)
    for response in [
        api.get("/api/cycles"),
        api.get(f"/api/cycles/{cycle.pk}/evidence", {"format": "zip"}),
        api.get("/api/nothing"),
        api.post("/api/cycles"),
        client.get("/api/cycles"),
        client.get("/api/schema"),
    ]:
        assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_gets_413(client, reviewer, cycle, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api_for(client, reviewer).decide(
        items_of(cycle)[0], decision="keep", justification="x" * 200
    )
    assert response.status_code == 413
    assert response.json() == {"error": "The request body is too large."}


@pytest.mark.django_db
def test_the_wrong_method_is_answered_only_once_the_token_is_known(client, outsider):
    anonymous = client.post("/api/cycles", {}, content_type="application/json")
    assert anonymous.status_code == 401
    # Someone without the capability still learns the method is wrong, as before.
    response = api_for(client, outsider).post("/api/cycles", {})
    assert response.status_code == 405
    assert response.json() == {"error": "Use GET here, not POST."}


@pytest.mark.django_db
def test_the_public_schema_takes_get_only(client):
    response = client.post("/api/schema")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


@pytest.mark.django_db
def test_an_empty_json_body_is_malformed_json(client, approver, cycle):
    api = api_for(client, approver)
    response = client.post(
        f"/api/cycles/{cycle.pk}/sign-off",
        "",
        content_type="application/json",
        headers=api.headers,
        CONTENT_TYPE="application/json",  # the test client sends none with an empty body
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "body": "Malformed JSON: Expecting value: line 1 column 1 (char 0)"
    }


@pytest.mark.django_db
def test_every_bad_field_of_a_body_is_named_at_once(client, reviewer, cycle):
    response = api_for(client, reviewer).decide(
        items_of(cycle)[0],
        decision=3,
        expires_on="tomorrow",
        delegate_to="nobody@nowhere.example",
        previous_decision_id="7",
        colour="red",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "decision": "Must be a string.",
        "expires_on": "Must be a date written YYYY-MM-DD.",
        "delegate_to": "No one with the email nobody@nowhere.example uses iamreview.",
        "previous_decision_id": "Must be an integer id.",
        "colour": "Unknown field.",
    }


@pytest.mark.django_db
def test_a_finding_is_answered_exactly_as_every_export_writes_it(client, auditor, cycle):
    finding = Finding.objects.get()
    Finding.objects.filter(pk=finding.pk).update(
        last_seen_at=finding.last_seen_at.replace(microsecond=123456)
    )
    (row,) = api_for(client, auditor).get("/api/findings").json()["results"]
    assert row == finding_record(finding=Finding.objects.get())
    assert row["last_seen"].endswith(".123456+00:00")


@pytest.mark.django_db
def test_a_decision_keeps_its_microseconds(client, reviewer, cycle):
    made = api_for(client, reviewer).decide(items_of(cycle)[0], decision="keep", justification="x")
    decided_at = cycle.items.get(pk=made.json()["item"]).latest_decision.decided_at
    assert made.json()["decided_at"] == decided_at.isoformat()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw_value", "message"),
    [
        ('"needed\\u0000for checkout"', "justification contains a NUL character"),
        ('"needed \\ud800 for checkout"', "justification contains a lone surrogate"),
    ],
)
def test_a_nul_or_a_lone_surrogate_in_a_string_is_a_400_and_nothing_is_stored(
    client, reviewer, cycle, raw_value, message
):
    item = items_of(cycle)[0]
    raw = '{"decision": "keep", "justification": ' + raw_value + "}"
    response = api_for(client, reviewer).post(f"/api/items/{item.pk}/decisions", raw=raw)
    assert response.status_code == 400
    assert message in str(response.json())
    item.refresh_from_db()
    assert item.latest_decision is None
