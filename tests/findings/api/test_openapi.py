"""The OpenAPI document ninja generates, the docs page for it, and the check (conftest.py)
that holds every answer of the API tests to it."""

import json

import pytest
from django.http import HttpResponse, JsonResponse
from openapi_spec_validator import validate

from findings.api.endpoints import OPENAPI
from tests.findings.api.conftest import assert_documented

# --- The document -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_served_schema_is_a_valid_openapi_3_1_document(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"] == "3.1.0"
    validate(document)


@pytest.mark.django_db
def test_the_served_schema_is_the_one_ninja_generates_from_the_code(client):
    assert json.loads(client.get("/api/schema").content) == OPENAPI


def test_the_document_keeps_the_apis_title_version_and_description():
    assert OPENAPI["info"]["title"] == "iamreview API"
    assert OPENAPI["info"]["version"] == "1"
    assert "Authorization: Bearer iamr_" in OPENAPI["info"]["description"]
    # "Try it out" from a logged-in browser answered 401 with no word on what to do.
    assert "press Authorize and paste it" in OPENAPI["info"]["description"]


def test_every_operation_but_the_schema_needs_a_bearer_token():
    for path, operations in OPENAPI["paths"].items():
        for operation in operations.values():
            expected = None if path == "/api/schema" else [{"bearerAuth": []}]
            assert operation.get("security") == expected, path


def test_request_bodies_are_documented_with_their_required_fields():
    schemas = OPENAPI["components"]["schemas"]
    assert schemas["ReleaseRequest"]["required"] == ["application", "version", "role_arns"]
    assert schemas["ReleaseRequest"]["properties"]["role_arns"]["maxItems"] == 1000
    assert schemas["DecisionRequest"]["required"] == ["decision"]
    assert schemas["DecisionRequest"]["additionalProperties"] is False
    decide = OPENAPI["paths"]["/api/items/{item_id}/decisions"]["post"]
    assert decide["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DecisionRequest"
    }


def test_the_evidence_pack_is_documented_as_json_or_zip():
    answer = OPENAPI["paths"]["/api/cycles/{cycle_id}/evidence"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {"application/json", "application/zip"}


# --- The docs page ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_docs_send_anonymous_visitors_to_log_in(client):
    response = client.get("/api/docs")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["auditor", "outsider"])
def test_the_docs_are_for_anyone_logged_in_and_read_the_served_schema(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b'"url": "/api/schema"' in response.content


@pytest.mark.django_db
def test_the_docs_load_their_scripts_from_this_site_not_a_cdn(client, auditor):
    client.force_login(auditor)
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"/static/ninja/swagger-ui-bundle.js" in response.content
    assert b"cdn" not in response.content.lower()


# --- The check every API test goes through ----------------------------------------------------


def error(status: int) -> JsonResponse:
    return JsonResponse({"error": "x"}, status=status)


def test_the_check_accepts_a_documented_answer():
    assert_documented("GET", "/api/cycles/1", error(404))


def test_the_check_refuses_an_undocumented_status():
    with pytest.raises(AssertionError, match="not documented"):
        assert_documented("GET", "/api/cycles/1", error(409))


def test_the_check_refuses_a_body_the_schema_does_not_allow():
    from jsonschema import ValidationError

    with pytest.raises(ValidationError):
        assert_documented("GET", "/api/cycles/1", JsonResponse({"detail": "x"}, status=404))


def test_the_check_refuses_an_undocumented_content_type():
    with pytest.raises(AssertionError):
        assert_documented("GET", "/api/cycles/1", HttpResponse("<h1>Not found</h1>", status=404))


def test_the_check_wants_the_documented_headers():
    with pytest.raises(AssertionError):
        assert_documented("GET", "/api/cycles", error(401))
