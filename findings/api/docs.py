"""Ninja's interactive docs for the API, at /api/docs: a page for logged-in people.

Mounted beside the API rather than in it, because every path under /api/ that the OpenAPI
document does not describe answers JSON (a test holds the two to the same list).
"""

from django.urls import path

from findings.api.endpoints import api

docs = next(pattern.callback for pattern in api.urls[0] if pattern.name == "openapi-view")

urlpatterns = [path("", docs, name="api-docs")]
