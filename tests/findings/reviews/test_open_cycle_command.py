"""`python manage.py open_cycle`: this period's cycle, opened once, printed as text or JSON."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from findings.models import ReviewCycle
from tests.findings.reviews.test_views import credential_entry, make_account

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("open_cycle", *args, stdout=out)
    return out.getvalue()


def test_opening_the_quarterly_cycle_twice_opens_it_once_and_prints_it_as_json():
    production = make_account()
    for user in ("alice", "bob"):
        credential_entry(production, user)

    first = json.loads(run("--kind", "quarterly", "--json"))
    again = json.loads(run("--kind", "quarterly", "--json"))

    cycle = ReviewCycle.objects.get()
    assert first == again == {"id": cycle.pk, "kind": "quarterly", "items": 2}


def test_the_text_output_says_whether_it_opened_the_cycle():
    make_account()
    assert run("--kind", "monthly").startswith("Opened: #")
    assert run("--kind", "monthly").startswith("Already open: #")


def test_an_unknown_kind_is_refused_with_the_choices():
    with pytest.raises(CommandError, match="monthly"):
        run("--kind", "release")
