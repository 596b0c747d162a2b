"""What test_api.py leaves implicit: caching, size limits, the order of checks, and answers
written exactly as before (timestamps as datetime.isoformat() writes them)."""

import re

import pytest

from accounts.tokens import create_token
from findings.api.endpoints import OPENAPI
from findings.api.inputs import MAX_PAGE
from findings.aws.session import ROLE_ARN_PATTERN
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
    made = api_for(client, reviewer).decide(
        items_of(cycle)[0], decision="keep", justification="needed by the checkout service"
    )
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


@pytest.mark.django_db
def test_a_justification_or_attestation_longer_than_the_pages_allow_is_a_400(
    client, reviewer, approver, cycle
):
    """The pages cap them at 5,000 characters; the API stored 2,000,000."""
    item = items_of(cycle)[0]
    long = "J" * 5001
    response = api_for(client, reviewer).post(
        f"/api/items/{item.pk}/decisions", {"decision": "keep", "justification": long}
    )
    assert response.status_code == 400
    assert response.json() == {"errors": {"justification": "At most 5000 characters."}}
    item.refresh_from_db()
    assert item.latest_decision is None

    response = api_for(client, approver).post(
        f"/api/cycles/{cycle.pk}/sign-off", {"attestation": long, "summary_hash": "0" * 64}
    )
    assert response.status_code == 400
    assert response.json()["errors"]["attestation"] == "At most 5000 characters."


# --- Input the document refuses, the API refuses (issue 10) ------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"page": "9223372036854775809"},
            "page",
            "Must be a whole number from 1 up to 1000000000.",
        ),
        ({"page": "9" * 5000}, "page", "Must be a whole number from 1 up to 1000000000."),
        ({"page": "\u0661"}, "page", "Must be a whole number from 1 up to 1000000000."),
        # Blank is no number (the document says integer); a blank filter (kind=) is "any".
        ({"page": ""}, "page", "Must be a whole number from 1 up to 1000000000."),
        ({"page": ["1", "2"]}, "page", "Give page once, not 2 times."),
        ({"kind": ["release", "monthly"]}, "kind", "Give kind once, not 2 times."),
    ],
)
def test_a_page_number_out_of_range_or_a_repeated_parameter_is_a_400(
    client, auditor, params, field, message
):
    response = api_for(client, auditor).get("/api/cycles", params)
    assert response.status_code == 400
    assert response.json() == {"errors": {field: message}}


@pytest.mark.django_db
def test_a_page_past_the_end_is_a_documented_404(client, auditor):
    response = api_for(client, auditor).get("/api/cycles", {"page": "2"})
    assert response.status_code == 404
    for path in ("/api/cycles", "/api/findings"):
        assert "404" in OPENAPI["paths"][path]["get"]["responses"]
        page = next(p for p in OPENAPI["paths"][path]["get"]["parameters"] if p["name"] == "page")
        assert page["schema"]["maximum"] == MAX_PAGE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"role_arns": ["", "arn:aws:iam::111122223333:role/x"]}, "role_arns", "must not be"),
        ({"role_arns": [" "]}, "role_arns", "must not be empty"),
        ({"application": "a" * 201}, "application", "At most 200 characters."),
        ({"version": "1" * 101}, "version", "At most 100 characters."),
    ],
)
def test_a_release_with_a_blank_arn_or_an_overlong_name_is_a_400(
    client, reviewer, body, field, message
):
    arn = "arn:aws:iam::111122223333:role/x"
    release = {"application": "checkout", "version": "1", "role_arns": [arn], **body}
    response = api_for(client, reviewer).post("/api/releases", release)
    assert response.status_code == 400
    assert message.lower() in response.json()["errors"][field].lower()


def test_the_document_refuses_what_the_api_refuses():
    schemas = OPENAPI["components"]["schemas"]
    release = schemas["ReleaseRequest"]["properties"]
    assert release["role_arns"]["items"]["pattern"] == ROLE_ARN_PATTERN
    assert re.match(ROLE_ARN_PATTERN, "arn:aws:iam::111122223333:role/path/checkout-api")
    assert not re.match(ROLE_ARN_PATTERN, "arn:aws:iam::111122223333:user/alice")
    assert release["application"]["maxLength"] == 200
    assert release["version"]["maxLength"] == 100
    attestation = schemas["SignOffRequest"]["properties"]["attestation"]["pattern"]
    # At least ten characters once surrounding blanks are stripped, as the domain counts them.
    assert re.match(attestation, "  Reviewed.\n ") is None
    assert re.match(attestation, "  1234567890  ") and re.match(attestation, "I read it all.")
    rules = schemas["DecisionRequest"]["allOf"]
    needs_justification = next(r for r in rules if "justification" in r["then"]["required"])
    assert set(needs_justification["if"]["properties"]["decision"]["enum"]) == {
        "keep",
        "accept_risk",
        "false_positive",
        "delegate",
    }
    suggestion = OPENAPI["paths"]["/api/principals/suggestion"]["get"]["parameters"]
    arn = next(p for p in suggestion if p["name"] == "arn")
    assert arn["schema"]["maxLength"] == 2048


def test_every_operation_documents_the_input_guards_400():
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            answer = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert answer == {"$ref": "#/components/schemas/FieldErrors"}, (method, path)


@pytest.mark.django_db
@pytest.mark.parametrize("form", ["multipart", "urlencoded"])
def test_a_form_posted_to_the_api_is_told_to_send_json(client, approver, cycle, form):
    """The input guard read a multipart body as a form, using up the stream the API then
    read: a 500. The API reads JSON only and says so."""
    api = api_for(client, approver)
    if form == "multipart":
        response = client.post(f"/api/cycles/{cycle.pk}/sign-off", {"x": "1"}, headers=api.headers)
    else:
        response = client.post(
            f"/api/cycles/{cycle.pk}/sign-off",
            "x=1",
            content_type="application/x-www-form-urlencoded",
            headers=api.headers,
        )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "body": "Send a JSON object with 'Content-Type: application/json'."
    }
