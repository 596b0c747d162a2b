"""What a logged-in person sees or downloads is never kept by a browser's cache or a proxy."""

import pytest

from tests.findings.reviews.test_views import decide_all, login, quarterly_cycle

pytestmark = pytest.mark.django_db


def test_pages_and_downloads_of_a_logged_in_person_are_not_stored(client, reviewer, auditor):
    cycle = quarterly_cycle()
    decide_all(cycle, reviewer)
    login(client, auditor)
    for url in (
        "/",
        "/findings/",
        "/findings/export.csv",
        "/findings/export.json",
        f"/review/cycles/{cycle.pk}/",
        f"/review/items/{cycle.items.first().pk}/",
        "/review/audit/",
        "/review/audit/export.csv",
        "/inventory/users/",
        "/collection/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        cache_control = response["Cache-Control"]
        assert "no-store" in cache_control and "private" in cache_control, url
