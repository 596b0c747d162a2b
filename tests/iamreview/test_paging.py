"""A page number below 1 asks for the first page (Django's get_page answers the last)."""

import re

import pytest

from iamreview.paging import page_asked
from tests.findings.detection.test_detect import make_account
from tests.findings.detection.test_views import make_finding


def test_a_number_below_one_is_the_first_page_and_anything_else_is_left_to_django():
    assert [page_asked(v) for v in ("0", "-3", 0, "1", "7", None, "x", "")] == [
        1,
        1,
        1,
        "1",
        "7",
        None,
        "x",
        "",
    ]


@pytest.mark.django_db
def test_findings_page_zero_is_the_first_page(client, reviewer, monkeypatch):
    monkeypatch.setattr("findings.detection.views.PER_PAGE", 2)
    account = make_account()
    for n in range(5):
        make_finding(account, f"role-{n}")
    client.force_login(reviewer)

    def rows(page: str) -> list[str]:
        html = client.get("/findings/", {"page": page}).content.decode()
        return re.findall(r'class="resource-name">([^<]+)<', html)

    first = rows("1")
    assert len(first) == 2 and rows("3") != first
    assert rows("0") == first and rows("-2") == first
