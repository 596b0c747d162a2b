"""Every answer the API gives in these tests is one its OpenAPI document describes.

The document is the one ninja generates (findings.api.endpoints.OPENAPI, served at
/api/schema). Each response to a path under /api/ must have a status the operation documents,
the documented content type, the documented headers, and a JSON body valid against the
documented schema. A path the document does not list answers the JSON error of the catch-all.
"""

import json
import re

import jsonschema
import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from findings.api.endpoints import OPENAPI


def operations_at(path: str) -> dict | None:
    for template, operations in OPENAPI["paths"].items():
        if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path):
            return operations
    return None


def resolve_or_none(path: str):
    try:
        return resolve(path)
    except Resolver404:
        return None


def validate(body, schema: dict) -> None:
    validator = jsonschema.Draft202012Validator(
        {**schema, "components": OPENAPI["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(body)


def assert_documented(method: str, path: str, response) -> None:
    """The response matches what the document says `method path` answers."""
    match = resolve_or_none(path)
    if match is None or not getattr(match.func, "api", False):
        return  # not an API view (/api/docs is a page for people)
    status = str(response.status_code)
    operations = operations_at(path)
    if operations is None:
        # The catch-all: 401 until the caller is known, then 404 (405 for odd methods).
        assert status in {"401", "404", "405"}, (method, path, status)
        if method != "HEAD":
            validate(json.loads(response.content), {"$ref": "#/components/schemas/Error"})
        return
    # A method the path does not take answers as its operations document (401, 405).
    own = operations.get(method.lower())
    candidates = [own] if own else list(operations.values())
    documented = [op["responses"][status] for op in candidates if status in op["responses"]]
    assert documented, f"{method} {path} answered {status}, which is not documented"
    answer = documented[0]
    for header in answer.get("headers", {}):
        assert response.has_header(header), (method, path, status, header)
    content_type = response["Content-Type"].split(";")[0]
    content = answer.get("content", {})
    assert content_type in content, (method, path, status, content_type, list(content))
    if content_type == "application/json" and method != "HEAD":
        validate(json.loads(response.content), content[content_type]["schema"])


@pytest.fixture(autouse=True)
def api_answers_match_the_openapi_document(monkeypatch):
    send = Client.request

    def checked(self, **request):
        response = send(self, **request)
        assert_documented(request["REQUEST_METHOD"], request["PATH_INFO"], response)
        return response

    monkeypatch.setattr(Client, "request", checked)
