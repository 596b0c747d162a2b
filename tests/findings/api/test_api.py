"""The JSON API: bearer tokens, the same rules as the pages, JSON errors a pipeline can act on.

The builders at the top (a release cycle over some roles, a finding) are shared with
test_evidence_pack.py.
"""

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone

from accounts.models import ApiToken, LinkedIdentity
from accounts.permissions import Role
from accounts.tokens import create_token, hash_token, revoke_token
from findings.api import endpoints as api
from findings.detection.checks import RULES_VERSION
from findings.models import AuditEntry, Decision, Finding, ReviewCycle, ReviewItem
from findings.models.findings import SEVERITY_RANK
from findings.reviews.evidence_pack import build_evidence_pack
from findings.reviews.releases import open_release_cycle
from findings.reviews.services import create_cycle
from tests.conftest import make_person
from tests.findings.detection.test_detect import NOW, iam_role, make_account

# --- Builders -------------------------------------------------------------------------------


def make_finding(account, arn: str, *, check: str = "role_unused", severity: str = "high", **kw):
    fields = {
        "account": account,
        "check_id": check,
        "resource_key": arn,
        "resource_arn": arn,
        "resource_type": "role",
        "resource_name": arn.rsplit("/", 1)[-1],
        "title": "Role not used in 90 days",
        "severity": severity,
        "severity_rank": SEVERITY_RANK[severity],
        "severity_reason": "unused for 120 days",
        "evidence": {"last_used": None},
        "evidence_fingerprint": "x",
        "rule_version": RULES_VERSION,
        "thresholds": {"unused_days": 90},
        "first_seen_at": NOW,
        "last_seen_at": NOW,
    }
    fields.update(kw)
    return Finding.objects.create(**fields)


def release_cycle(account, opened_by, *, roles: int = 2, unknown=(), name: str = "checkout"):
    """A per-release cycle over `roles` roles, the first with a high finding."""
    arns = [iam_role(account, f"{name}-{n}").arn for n in range(roles)]
    if arns:
        make_finding(account, arns[0])
    cycle, _, _ = open_release_cycle(
        application=name,
        version="1.4.0",
        role_arns=[*arns, *unknown],
        notes="adds the payment worker",
        opened_by=opened_by,
    )
    return cycle


class Api:
    """A client that sends one bearer token and JSON bodies."""

    def __init__(self, client: Client, raw_token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {raw_token}"}

    def get(self, path: str, params=None):
        return self.client.get(path, params or {}, headers=self.headers)

    def post(self, path: str, body=None, *, raw: str | None = None, content_type=None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            path, data, content_type=content_type or "application/json", headers=self.headers
        )

    def decide(self, item, **body):
        return self.post(f"/api/items/{item.pk}/decisions", body)


@pytest.fixture
def api_as(client):
    def make(user) -> Api:
        _, raw = create_token(user=user, name="tests")
        return Api(client, raw)

    return make


@pytest.fixture
def account(db):
    return make_account()


@pytest.fixture
def cycle(account, reviewer):
    return release_cycle(account, reviewer)


def items_of(cycle) -> list[ReviewItem]:
    return list(cycle.items.order_by("id"))


def decide_all(api_client: Api, cycle) -> None:
    for item in items_of(cycle):
        response = api_client.decide(
            item, decision="keep", justification="needed by the checkout service"
        )
        assert response.status_code == 201, response.json()


# Long enough for a critical or high item (at least 20 characters).
IN_USE = "In use by the checkout service"


def sign_off(api_client: Api, cycle, attestation: str = "Reviewed in full.", **body):
    """Sign off as an approver does: read the summary, then sign against its digest."""
    summary = api_client.get(f"/api/cycles/{cycle.pk}/sign-off-summary").json()
    body = {"attestation": attestation, "summary_hash": summary["digest"], **body}
    return api_client.post(f"/api/cycles/{cycle.pk}/sign-off", body)


def in_a_month() -> str:
    return (timezone.localdate() + timedelta(days=30)).isoformat()


# --- Authentication ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_call_without_a_token_gets_401_json_with_a_bearer_challenge(client):
    response = client.get("/api/cycles")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="iamreview"'
    assert "Bearer" in response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "iamr_abc", "Token iamr_x"])
def test_an_authorization_header_that_is_not_a_bearer_token_gets_401(client, header):
    response = client.get("/api/cycles", headers={"Authorization": header})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_an_unknown_token_gets_401_invalid_token(client, reviewer):
    response = Api(client, "iamr_" + "x" * 43).get("/api/cycles")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response.json() == {
        "error": "The API token is invalid, expired or revoked (the profile page shows when "
        "each of yours expires)."
    }


@pytest.mark.django_db
def test_a_revoked_token_gets_401(client, reviewer):
    token, raw = create_token(user=reviewer, name="pipeline")
    assert Api(client, raw).get("/api/cycles").status_code == 200
    revoke_token(token=token, actor=reviewer)
    response = Api(client, raw).get("/api/cycles")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_the_token_of_a_deactivated_person_gets_401(client, reviewer):
    _, raw = create_token(user=reviewer, name="pipeline")
    reviewer.is_active = False
    reviewer.save()
    assert Api(client, raw).get("/api/cycles").status_code == 401


@pytest.mark.django_db
def test_a_logged_in_browser_session_does_not_authenticate_the_api(client, administrator):
    client.force_login(administrator)
    response = client.get("/api/cycles")
    assert response.status_code == 401


@pytest.mark.django_db
def test_token_calls_need_no_csrf_token_because_they_send_no_cookie(account, reviewer):
    cycle = release_cycle(account, reviewer)
    _, raw = create_token(user=reviewer, name="pipeline")
    strict = Api(Client(enforce_csrf_checks=True), raw)
    response = strict.decide(items_of(cycle)[0], decision="keep", justification=IN_USE)
    assert response.status_code == 201
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
def test_the_raw_token_is_never_stored_only_its_hash(reviewer):
    token, raw = create_token(user=reviewer, name="release pipeline")
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["token_hash"] == hash_token(raw)
    assert raw not in json.dumps(stored, default=str)
    assert raw.startswith(stored["prefix"]) and len(stored["prefix"]) < len(raw)
    audit = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert raw not in audit


# --- Request plumbing -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_wrong_method_gets_405_json_with_allow(api_as, reviewer):
    response = api_as(reviewer).post("/api/cycles", {})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert "error" in response.json()
    assert api_as(reviewer).get("/api/releases").status_code == 405


@pytest.mark.django_db
def test_an_unknown_api_path_gets_404_json(api_as, reviewer):
    response = api_as(reviewer).get("/api/nothing/here")
    assert response.status_code == 404
    assert "schema" in response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        ("application=x", "application/x-www-form-urlencoded", "Content-Type"),
        ('{"application": "x"}', "text/plain", "Content-Type"),
        ('{"application": ', "application/json", "Malformed JSON"),
        ("", "application/json", "JSON"),
        ('["checkout"]', "application/json", "JSON object"),
        ('"checkout"', "application/json", "JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_gets_400(api_as, reviewer, raw, content_type, message):
    response = api_as(reviewer).post("/api/releases", raw=raw, content_type=content_type)
    assert response.status_code == 400
    assert message in response.json()["errors"]["body"]
    assert ReviewCycle.objects.count() == 0


@pytest.mark.django_db
def test_unknown_fields_are_named_not_ignored(api_as, reviewer, cycle):
    response = api_as(reviewer).decide(
        items_of(cycle)[0], decision="accept_risk", justification="x", expires=in_a_month()
    )
    assert response.status_code == 400
    assert response.json()["errors"]["expires"] == "Unknown field."


@pytest.mark.django_db
def test_an_unexpected_error_is_a_json_500_without_details(api_as, approver, cycle, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("password=hunter2 at /srv/secret.py line 3")

    monkeypatch.setattr("findings.reviews.services.sign_off_cycle", explode)
    response = api_as(approver).post(f"/api/cycles/{cycle.pk}/sign-off", {"attestation": "ok"})
    assert response.status_code == 500
    assert response.json() == {"error": "Internal error; it has been logged."}
    assert b"hunter2" not in response.content and b"Traceback" not in response.content


# --- Releases ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pipeline_registers_a_release_and_unknown_role_arns_are_reported(
    api_as, reviewer, account
):
    known = [iam_role(account, "checkout-api").arn, iam_role(account, "checkout-worker").arn]
    unknown = "arn:aws:iam::111122223333:role/never-collected"
    response = api_as(reviewer).post(
        "/api/releases",
        {
            "application": "checkout",
            "version": "1.4.0",
            "role_arns": [*known, unknown],
            "notes": "adds the worker",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["unknown_role_arns"] == [unknown]
    cycle = ReviewCycle.objects.get(pk=body["cycle"]["id"])
    assert response["Location"] == f"/api/cycles/{cycle.pk}"
    assert body["cycle"]["kind"] == "release"
    assert body["cycle"]["title"] == "Release checkout 1.4.0"
    assert body["cycle"]["population_count"] == 2
    assert sorted(cycle.items.values_list("subject_arn", flat=True)) == sorted(known)
    assert cycle.opened_by == reviewer
    assert body["created"] is True

    # The pipeline step retried: the same release and roles get the open cycle, not a second.
    again = api_as(reviewer).post(
        "/api/releases",
        {"application": "checkout", "version": "1.4.0", "role_arns": [unknown, *known]},
    )
    assert again.status_code == 200
    assert again.json()["cycle"]["id"] == cycle.pk and again.json()["created"] is False
    assert ReviewCycle.objects.count() == 1
    assert again.json()["changes"] is None
    # Another version is another review.
    other = api_as(reviewer).post(
        "/api/releases", {"application": "checkout", "version": "1.5.0", "role_arns": known}
    )
    assert other.status_code == 201 and ReviewCycle.objects.count() == 2


@pytest.mark.django_db
def test_the_same_version_with_other_roles_updates_its_open_cycle_and_says_so(
    api_as, reviewer, account
):
    """One review per application and version: a re-registration with other roles is no
    second cycle with the same title, but a change of the open one, in the answer and the
    audit trail."""
    known = iam_role(account, "checkout-api").arn
    unknown = "arn:aws:iam::111122223333:role/never-collected"
    release = {"application": "checkout", "version": "2.14.0"}
    first = api_as(reviewer).post("/api/releases", {**release, "role_arns": [known, unknown]})
    assert first.status_code == 201
    cycle_id = first.json()["cycle"]["id"]

    dropped = api_as(reviewer).post("/api/releases", {**release, "role_arns": [known]})
    assert dropped.status_code == 200
    body = dropped.json()
    assert body["cycle"]["id"] == cycle_id and body["created"] is False
    assert body["unknown_role_arns"] == []
    assert body["changes"] == {
        "added_role_arns": [],
        "named_again_role_arns": [],
        "no_longer_named_role_arns": [],
        "unknown_role_arns_added": [],
        "unknown_role_arns_dropped": [unknown],
        "notes_changed": False,
    }
    assert ReviewCycle.objects.count() == 1
    assert ReviewCycle.objects.get().unknown_role_arns == []

    worker = iam_role(account, "checkout-worker").arn
    grown = api_as(reviewer).post("/api/releases", {**release, "role_arns": [worker]})
    assert grown.status_code == 200
    assert grown.json()["changes"]["added_role_arns"] == [worker]
    assert grown.json()["changes"]["no_longer_named_role_arns"] == [known]
    cycle = ReviewCycle.objects.get()
    assert grown.json()["cycle"]["population_count"] == cycle.population_count == 2
    assert sorted(cycle.items.values_list("subject_arn", flat=True)) == sorted([known, worker])

    # The pipeline retries that last step: the same cycle, nothing changed, nothing recorded.
    retried = api_as(reviewer).post("/api/releases", {**release, "role_arns": [worker]})
    assert retried.status_code == 200 and retried.json()["changes"] is None
    updates = AuditEntry.objects.filter(action="cycle.release_updated").order_by("id")
    assert [entry.after["unknown_role_arns_dropped"] for entry in updates] == [[unknown], []]
    assert updates.last().after["added_role_arns"] == [worker]
    assert updates.last().after["items"] == 2

    # Named again after a registration left it out: already in the review, not added to it.
    again = api_as(reviewer).post("/api/releases", {**release, "role_arns": [worker, known]})
    assert again.json()["changes"]["added_role_arns"] == []
    assert again.json()["changes"]["named_again_role_arns"] == [known]
    assert ReviewCycle.objects.get().population_count == 2


@pytest.mark.django_db
def test_a_signed_off_version_changed_is_not_registered_again(api_as, reviewer, approver, account):
    """A change after sign-off (a role more, other notes) needs a new version number: 409
    naming the signed-off cycle, not a second cycle with the same title."""
    arn = iam_role(account, "checkout-api").arn
    admin = iam_role(account, "checkout-admin").arn
    release = {"application": "checkout", "version": "2.14.0", "role_arns": [arn]}
    cycle = ReviewCycle.objects.get(
        pk=api_as(reviewer).post("/api/releases", release).json()["cycle"]["id"]
    )
    decide_all(api_as(reviewer), cycle)
    assert sign_off(api_as(approver), cycle).status_code == 200

    again = api_as(reviewer).post("/api/releases", {**release, "role_arns": [arn, admin]})
    assert again.status_code == 409
    assert again.json()["cycle_id"] == cycle.pk
    assert "checkout 2.14.0 was reviewed and signed off" in again.json()["error"]
    assert "needs a new version number" in again.json()["error"]
    renoted = api_as(reviewer).post("/api/releases", {**release, "notes": "Adds refunds"})
    assert renoted.status_code == 409
    # The application's name in another case is the same application.
    shouted = api_as(reviewer).post(
        "/api/releases", {**release, "application": " Checkout", "role_arns": [admin]}
    )
    assert shouted.status_code == 409 and shouted.json()["cycle_id"] == cycle.pk
    assert ReviewCycle.objects.count() == 1
    assert (
        api_as(reviewer).post("/api/releases", {**release, "version": "2.14.1"}).status_code == 201
    )


@pytest.mark.django_db
def test_an_identical_retry_after_sign_off_gets_the_signed_off_cycle(
    api_as, reviewer, approver, account
):
    """A pipeline re-run after approval sends the very registration that was signed off: 200
    with that cycle, signed off, so the pipeline tells 'approved, deploy' from the 409 of a
    release changed under the same version. Nothing is written."""
    arn = iam_role(account, "checkout-api").arn
    release = {"application": "checkout", "version": "5.0.0", "role_arns": [arn]}
    first = api_as(reviewer).post("/api/releases", {**release, "notes": "Adds refunds"})
    cycle = ReviewCycle.objects.get(pk=first.json()["cycle"]["id"])
    decide_all(api_as(reviewer), cycle)
    assert sign_off(api_as(approver), cycle).status_code == 200
    cycle_entries = AuditEntry.objects.filter(action__startswith="cycle.")
    entries = cycle_entries.count()

    same = api_as(reviewer).post("/api/releases", {**release, "notes": "Adds refunds"})
    without_notes = api_as(reviewer).post("/api/releases", {**release, "application": "Checkout"})

    for answer in (same, without_notes):
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        assert body["cycle"]["id"] == cycle.pk
        assert body["cycle"]["state"] == "signed_off"
        assert (body["created"], body["changes"]) == (False, None)
    assert cycle_entries.count() == entries
    assert ReviewCycle.objects.count() == 1


@pytest.mark.django_db
def test_the_longest_application_and_version_register_with_a_title_that_fits(
    api_as, reviewer, account
):
    """The document allows an application of 200 and a version of 100 characters; 'Release
    <application> <version>' would pass the title's 300: the application is cut short in the
    title, and both stay whole in their own fields."""
    arn = iam_role(account, "checkout-api").arn
    application, version = "a" * 200, "1" * 100
    response = api_as(reviewer).post(
        "/api/releases", {"application": application, "version": version, "role_arns": [arn]}
    )

    assert response.status_code == 201, response.content[:300]
    cycle = ReviewCycle.objects.get(pk=response.json()["cycle"]["id"])
    assert (cycle.application, cycle.version) == (application, version)
    assert len(cycle.title) == 300
    assert cycle.title.startswith("Release aaa") and cycle.title.endswith(f"a… {version}")


@pytest.mark.django_db
def test_an_administrator_pipeline_token_may_register_a_release(api_as, administrator, account):
    arn = iam_role(account, "checkout-api").arn
    response = api_as(administrator).post(
        "/api/releases", {"application": "checkout", "version": "2", "role_arns": [arn]}
    )
    assert response.status_code == 201


ROLE = "arn:aws:iam::111122223333:role/checkout-api"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"application", "version", "role_arns"}),
        ({"application": " ", "version": "1", "role_arns": [ROLE]}, {"application"}),
        ({"application": "a", "version": "1", "role_arns": ["arn:x"]}, {"role_arns"}),
        ({"application": "a", "version": "1", "role_arns": [f" {ROLE}"]}, {"role_arns"}),
        (
            {"application": "a", "version": "1", "role_arns": ["arn:aws:s3:::bucket"]},
            {"role_arns"},
        ),
        ({"application": "a", "version": "1", "role_arns": []}, {"role_arns"}),
        ({"application": "a", "version": "1", "role_arns": "arn:x"}, {"role_arns"}),
        ({"application": "a", "version": 1, "role_arns": [ROLE]}, {"version"}),
        ({"application": "a", "version": "1", "role_arns": [1, 2]}, {"role_arns"}),
    ],
)
def test_a_release_with_bad_fields_gets_400_naming_them(api_as, reviewer, body, fields):
    response = api_as(reviewer).post("/api/releases", body)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields


@pytest.mark.django_db
def test_too_many_role_arns_are_refused(api_as, reviewer):
    arns = [f"arn:aws:iam::111122223333:role/r{n}" for n in range(api.MAX_ROLE_ARNS + 1)]
    response = api_as(reviewer).post(
        "/api/releases", {"application": "a", "version": "1", "role_arns": arns}
    )
    assert response.status_code == 400
    assert "at most" in response.json()["errors"]["role_arns"]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["approver", "auditor", "outsider"])
def test_approvers_auditors_and_people_without_a_role_cannot_register_releases(
    api_as, account, persona, request
):
    arn = iam_role(account, "checkout-api").arn
    response = api_as(request.getfixturevalue(persona)).post(
        "/api/releases", {"application": "checkout", "version": "1", "role_arns": [arn]}
    )
    assert response.status_code == 403
    assert "permission" in response.json()["error"]
    assert ReviewCycle.objects.count() == 0


# --- Cycles -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cycle_shows_every_item_with_its_latest_decision(api_as, reviewer, auditor, cycle):
    first, second = items_of(cycle)
    decided = api_as(reviewer).decide(first, decision="keep", justification=IN_USE)
    response = api_as(auditor).get(f"/api/cycles/{cycle.pk}")
    assert response.status_code == 200
    body = response.json()
    expected = {"id", "kind", "state", "title", "due_on", "overdue", "population_hash"}
    expected |= {"population_count", "signed_off_by", "signed_off_at", "attestation", "items"}
    assert expected <= set(body)
    assert body["state"] == "open" and body["overdue"] is False
    assert body["population_hash"] == cycle.population_hash
    assert body["decided_count"] == 1
    items = {item["id"]: item for item in body["items"]}
    assert set(items) == {first.pk, second.pk}
    assert items[first.pk]["latest_decision"] == decided.json()
    assert items[first.pk]["decided"] is True
    assert items[first.pk]["severity"] == "high"
    assert items[first.pk]["account"] == "111122223333"
    assert items[first.pk]["evidence_hash"] == first.evidence_hash
    assert items[second.pk]["latest_decision"] is None
    assert items[second.pk]["decided"] is False


@pytest.mark.django_db
def test_an_overdue_cycle_says_so(api_as, auditor, cycle):
    ReviewCycle.objects.filter(pk=cycle.pk).update(due_on=timezone.localdate() - timedelta(days=1))
    assert api_as(auditor).get(f"/api/cycles/{cycle.pk}").json()["overdue"] is True


@pytest.mark.django_db
def test_a_missing_cycle_is_404_json(api_as, auditor):
    response = api_as(auditor).get("/api/cycles/999999")
    assert response.status_code == 404
    assert response.json() == {"error": "No such review cycle."}


@pytest.mark.django_db
def test_cycles_are_listed_newest_first_filtered_and_paginated(
    api_as, reviewer, auditor, account, monkeypatch
):
    monkeypatch.setattr(api, "CYCLES_PAGE_SIZE", 2)
    releases = [release_cycle(account, reviewer, name=f"app{n}", roles=1) for n in range(3)]
    quarterly = create_cycle(
        kind="quarterly", title="Q4", specs=[], accounts=[account], opened_by=None
    )
    client = api_as(auditor)

    first = client.get("/api/cycles", {"kind": "release"}).json()
    assert first["count"] == 3
    assert [c["id"] for c in first["results"]] == [releases[2].pk, releases[1].pk]
    assert first["previous"] is None
    assert first["next"].startswith("http://testserver/api/cycles?")
    second = client.get(first["next"]).json()
    assert [c["id"] for c in second["results"]] == [releases[0].pk]
    assert second["next"] is None and second["previous"] is not None

    everything = client.get("/api/cycles", {"state": "open"}).json()
    assert everything["count"] == 4
    assert quarterly.pk in [c["id"] for c in everything["results"]] + [
        c["id"] for c in client.get(everything["next"]).json()["results"]
    ]
    assert client.get("/api/cycles", {"state": "signed_off"}).json()["count"] == 0


@pytest.mark.django_db
def test_a_pipeline_that_lost_the_cycle_id_finds_its_release_by_application_and_version(
    api_as, reviewer, approver, auditor, account
):
    """Version 2.15.0 of checkout is signed off; 2.16.0 is in review; another application
    shipped 2.15.0 too. The whole application (in any case) and the whole version find one."""
    arn = iam_role(account, "checkout-api").arn
    release = {"application": "Checkout", "role_arns": [arn]}
    approved = api_as(reviewer).post("/api/releases", {**release, "version": "2.15.0"})
    cycle = ReviewCycle.objects.get(pk=approved.json()["cycle"]["id"])
    decide_all(api_as(reviewer), cycle)
    assert sign_off(api_as(approver), cycle).status_code == 200
    api_as(reviewer).post("/api/releases", {**release, "version": "2.16.0"})
    api_as(reviewer).post(
        "/api/releases", {**release, "application": "checkout-admin", "version": "2.15.0"}
    )
    client = api_as(auditor)

    found = client.get("/api/cycles", {"application": "checkout", "version": "2.15.0"}).json()

    assert [(c["id"], c["state"]) for c in found["results"]] == [(cycle.pk, "signed_off")]
    assert client.get("/api/cycles", {"application": "checkout"}).json()["count"] == 2
    assert client.get("/api/cycles", {"version": "2.15.0"}).json()["count"] == 2
    for partial in ({"application": "check"}, {"version": "2.15"}):
        assert client.get("/api/cycles", partial).json()["count"] == 0
    too_long = client.get("/api/cycles", {"version": "1" * 101})
    assert too_long.status_code == 400 and "version" in too_long.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [({"kind": "weekly"}, "kind"), ({"state": "closed"}, "state"), ({"page": "0"}, "page")],
)
def test_cycle_list_filters_must_be_known_values(api_as, auditor, params, field):
    response = api_as(auditor).get("/api/cycles", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.django_db
def test_a_page_past_the_end_is_404(api_as, auditor, cycle):
    assert api_as(auditor).get("/api/cycles", {"page": "2"}).status_code == 404


@pytest.mark.django_db
def test_a_cycle_takes_a_fixed_number_of_queries_whatever_its_size(
    api_as, reviewer, second_reviewer, auditor, account, django_assert_max_num_queries
):
    cycle = release_cycle(account, reviewer, roles=25)
    deciding = api_as(reviewer)
    for n, item in enumerate(items_of(cycle)):
        if n % 2:
            deciding.decide(
                item, decision="delegate", justification="yours", delegate_to=second_reviewer.email
            )
        else:
            deciding.decide(item, decision="keep", justification=IN_USE)
    client = api_as(auditor)
    client.get("/api/cycles")  # the token's last-use stamp is written once a minute
    with django_assert_max_num_queries(6):
        response = client.get(f"/api/cycles/{cycle.pk}")
    assert len(response.json()["items"]) == 25
    with django_assert_max_num_queries(5):
        assert client.get("/api/cycles").status_code == 200


# --- Decisions --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "decided", "remediation"),
    [
        ({"decision": "keep", "justification": "the checkout needs it"}, True, None),
        ({"decision": "remediate", "justification": "drop s3:*"}, True, "pending"),
        (
            {"decision": "false_positive", "justification": "a test role, never deployed"},
            True,
            None,
        ),
        ({"decision": "accept_risk", "justification": "until the migration is done"}, True, None),
        ({"decision": "delegate", "justification": "you own this"}, False, None),
    ],
)
def test_every_kind_of_decision_is_recorded(
    api_as, reviewer, second_reviewer, auditor, cycle, body, decided, remediation
):
    item = items_of(cycle)[0]
    if body["decision"] == "accept_risk":
        body = {**body, "expires_on": in_a_month()}
    if body["decision"] == "delegate":
        body = {**body, "delegate_to": second_reviewer.email.upper()}
    response = api_as(reviewer).decide(item, **body)
    assert response.status_code == 201, response.json()
    made = response.json()
    assert made["kind"] == body["decision"]
    assert made["decided_by"] == reviewer.email
    assert made["item"] == item.pk and made["supersedes"] is None
    assert made["expires_on"] == body.get("expires_on")
    assert made["delegate_to"] == (second_reviewer.email if "delegate_to" in body else None)
    shown = api_as(auditor).get(f"/api/cycles/{cycle.pk}").json()
    shown_item = next(i for i in shown["items"] if i["id"] == item.pk)
    assert shown_item["decided"] is decided
    assert shown_item["remediation"] == remediation
    if body["decision"] == "delegate":
        assert shown_item["assignee"] == second_reviewer.email


KEEP = {"decision": "keep", "justification": "x"}
RISK = {"decision": "accept_risk", "justification": "x"}
DELEGATE = {"decision": "delegate", "justification": "x"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "approve", "justification": "x"}, "decision"),
        ({"justification": "x"}, "decision"),
        ({"decision": 3}, "decision"),
        ({"decision": "keep"}, "justification"),
        ({"decision": "keep", "justification": ["x"]}, "justification"),
        (RISK, "expires_on"),
        ({**RISK, "expires_on": "01/12/2026"}, "expires_on"),
        ({**RISK, "expires_on": "2026-02-30"}, "expires_on"),
        ({**RISK, "expires_on": "2020-01-01"}, "expires_on"),
        (DELEGATE, "delegate_to"),
        ({**DELEGATE, "delegate_to": "not-an-email"}, "delegate_to"),
        ({**DELEGATE, "delegate_to": "who@nowhere.example"}, "delegate_to"),
        ({**KEEP, "previous_decision_id": "7"}, "previous_decision_id"),
        ({**KEEP, "previous_decision_id": True}, "previous_decision_id"),
    ],
)
def test_a_bad_decision_gets_400_naming_the_field(api_as, reviewer, cycle, body, field):
    item = items_of(cycle)[0]
    response = api_as(reviewer).decide(item, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Decision.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["keep", "accept_risk", "false_positive"])
def test_a_high_item_needs_a_justification_of_twenty_characters(api_as, reviewer, cycle, kind):
    high, clean = items_of(cycle)
    assert (high.severity, clean.severity) == ("high", "")
    body = {"decision": kind, "expires_on": in_a_month() if kind == "accept_risk" else None}
    refused = api_as(reviewer).decide(high, **body, justification="  abc  ")
    assert refused.status_code == 400
    assert refused.json()["errors"]["justification"] == (
        "High items need a justification of at least 20 characters (this one has 3): say why, "
        "in words an auditor can follow."
    )
    assert not Decision.objects.exists()
    assert api_as(reviewer).decide(high, **body, justification="x" * 20).status_code == 201
    # Items without a critical or high finding, and remediation, need no more than before.
    assert api_as(reviewer).decide(clean, **body, justification="abc").status_code == 201


@pytest.mark.django_db
def test_remediating_a_high_item_needs_no_long_justification(api_as, reviewer, cycle):
    high = items_of(cycle)[0]
    assert api_as(reviewer).decide(high, decision="remediate", justification="").status_code == 201


def test_the_document_says_critical_and_high_items_need_twenty_characters():
    request = api.OPENAPI["components"]["schemas"]["DecisionRequest"]
    assert "at least 20 characters" in request["properties"]["justification"]["description"]


@pytest.mark.django_db
def test_risk_cannot_be_accepted_for_more_than_a_year(api_as, reviewer, cycle):
    far = (timezone.localdate() + timedelta(days=400)).isoformat()
    response = api_as(reviewer).decide(
        items_of(cycle)[0], decision="accept_risk", justification="later", expires_on=far
    )
    assert response.status_code == 400
    assert "one year" in response.json()["errors"]["expires_on"]


@pytest.mark.django_db
def test_delegating_to_someone_who_is_not_a_reviewer_gets_400(api_as, reviewer, auditor, cycle):
    response = api_as(reviewer).decide(
        items_of(cycle)[0], decision="delegate", justification="x", delegate_to=auditor.email
    )
    assert response.status_code == 400
    assert "not an active reviewer" in response.json()["errors"]["delegate_to"]


@pytest.mark.django_db
def test_a_second_decision_that_does_not_name_the_first_is_a_409_with_the_current_one(
    api_as, reviewer, second_reviewer, cycle
):
    item = items_of(cycle)[0]
    first = api_as(reviewer).decide(item, decision="keep", justification=IN_USE).json()
    response = api_as(second_reviewer).decide(item, decision="remediate", justification="no")
    assert response.status_code == 409
    body = response.json()
    assert body["current_decision"] == first
    assert reviewer.email in body["error"]
    assert Decision.objects.filter(item=item).count() == 1


@pytest.mark.django_db
def test_a_decision_naming_a_stale_previous_decision_is_a_409(
    api_as, reviewer, second_reviewer, cycle
):
    item = items_of(cycle)[0]
    first = api_as(reviewer).decide(item, decision="keep", justification=IN_USE).json()
    second = (
        api_as(second_reviewer)
        .decide(item, decision="remediate", justification="no", previous_decision_id=first["id"])
        .json()
    )
    response = api_as(reviewer).decide(
        item, decision="keep", justification=IN_USE, previous_decision_id=first["id"]
    )
    assert response.status_code == 409
    assert response.json()["current_decision"]["id"] == second["id"]


@pytest.mark.django_db
def test_naming_the_latest_decision_supersedes_it_append_only(
    api_as, reviewer, second_reviewer, cycle
):
    item = items_of(cycle)[0]
    first = api_as(reviewer).decide(item, decision="keep", justification=IN_USE).json()
    response = api_as(second_reviewer).decide(
        item, decision="remediate", justification="not any more", previous_decision_id=first["id"]
    )
    assert response.status_code == 201
    assert response.json()["supersedes"] == first["id"]
    assert Decision.objects.filter(item=item).count() == 2
    assert Decision.objects.get(pk=first["id"]).kind == "keep"


@pytest.mark.django_db
def test_a_reviewer_cannot_decide_an_item_about_their_own_iam_identity(
    api_as, reviewer, account, cycle
):
    item = items_of(cycle)[0]
    LinkedIdentity.objects.create(user=reviewer, arn=item.subject_arn)
    response = api_as(reviewer).decide(item, decision="keep", justification=IN_USE)
    assert response.status_code == 403
    assert response.json()["error"].startswith("Segregation of duties")
    assert item.subject_arn in response.json()["error"]
    assert not Decision.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["approver", "auditor", "administrator"])
def test_only_reviewers_decide(api_as, cycle, persona, request):
    response = api_as(request.getfixturevalue(persona)).decide(
        items_of(cycle)[0], decision="keep", justification="x"
    )
    assert response.status_code == 403
    assert "decide_review_items" in response.json()["error"]


@pytest.mark.django_db
def test_deciding_a_missing_item_is_404(api_as, reviewer):
    response = api_as(reviewer).post("/api/items/999999/decisions", {"decision": "keep"})
    assert response.status_code == 404
    assert response.json() == {"error": "No such review item."}


# --- Sign-off ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_approver_signs_off_a_decided_cycle_and_it_locks(api_as, reviewer, approver, cycle):
    decide_all(api_as(reviewer), cycle)
    response = sign_off(api_as(approver), cycle)
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "signed_off"
    assert body["signed_off_by"] == approver.email
    assert body["attestation"] == "Reviewed in full."
    assert body["signed_population_hash"] == cycle.population_hash
    assert len(body["items"]) == 2

    item = items_of(cycle)[0]
    refused = api_as(reviewer).decide(
        item,
        decision="remediate",
        justification="late",
        previous_decision_id=item.latest_decision_id,
    )
    assert refused.status_code == 403
    assert "signed off and locked" in refused.json()["error"]

    again = sign_off(api_as(approver), cycle, "Signed again.")
    assert again.status_code == 403
    assert "already signed off" in again.json()["error"]


@pytest.mark.django_db
def test_sign_off_is_refused_while_items_wait_for_a_decision(api_as, reviewer, approver, cycle):
    api_as(reviewer).decide(items_of(cycle)[0], decision="keep", justification=IN_USE)
    response = sign_off(api_as(approver), cycle)
    assert response.status_code == 403
    assert "1 item still waits" in response.json()["error"]


@pytest.mark.django_db
def test_an_approver_who_decided_an_item_cannot_sign_off_the_cycle(
    api_as, reviewer, account, cycle
):
    both = make_person("bea.both@example.com", Role.REVIEWER, Role.APPROVER)
    first, second = items_of(cycle)
    api_as(both).decide(first, decision="keep", justification=IN_USE)
    api_as(reviewer).decide(second, decision="keep", justification=IN_USE)
    response = sign_off(api_as(both), cycle)
    assert response.status_code == 403
    assert response.json()["error"].startswith("Segregation of duties")
    assert ReviewCycle.objects.get(pk=cycle.pk).state == "open"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"attestation": "  "}])
def test_sign_off_needs_an_attestation(api_as, reviewer, approver, cycle, body):
    decide_all(api_as(reviewer), cycle)
    response = api_as(approver).post(f"/api/cycles/{cycle.pk}/sign-off", body)
    assert response.status_code == 400
    assert "attestation" in response.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize("attestation", ["x", "  ok  ", "123456789", " 1234 5678 "])
def test_an_attestation_shorter_than_ten_characters_is_400(
    api_as, reviewer, approver, cycle, attestation
):
    decide_all(api_as(reviewer), cycle)
    response = sign_off(api_as(approver), cycle, attestation)
    assert response.status_code == 400
    assert "at least 10 characters" in response.json()["errors"]["attestation"]
    assert ReviewCycle.objects.get(pk=cycle.pk).state == "open"
    # Ten, blanks around them not counted, is enough.
    assert sign_off(api_as(approver), cycle, "  1234567890  ").status_code == 200


@pytest.mark.django_db
def test_signing_off_without_the_summary_hash_is_400_saying_to_read_the_summary_first(
    api_as, reviewer, approver, cycle
):
    """Else the evidence pack would say the approver signed a summary they never loaded."""
    decide_all(api_as(reviewer), cycle)
    for body in (
        {"attestation": "Reviewed in full."},
        {"attestation": "Reviewed in full.", "summary_hash": ""},
    ):
        response = api_as(approver).post(f"/api/cycles/{cycle.pk}/sign-off", body)
        assert response.status_code == 400
        message = response.json()["errors"]["summary_hash"]
        assert message.startswith("Read the sign-off summary first")
        assert f"GET /api/cycles/{cycle.pk}/sign-off-summary" in message
    assert ReviewCycle.objects.get(pk=cycle.pk).state == "open"
    assert not AuditEntry.objects.filter(action="cycle.signed_off").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("digest", ["abc", "A" * 64, "0" * 65, 12])
def test_a_summary_hash_that_is_no_digest_is_400(api_as, reviewer, approver, cycle, digest):
    decide_all(api_as(reviewer), cycle)
    response = api_as(approver).post(
        f"/api/cycles/{cycle.pk}/sign-off",
        {"attestation": "Reviewed in full.", "summary_hash": digest},
    )
    assert response.status_code == 400
    assert "summary_hash" in response.json()["errors"]


def test_the_document_requires_the_summary_hash_and_a_ten_character_attestation():
    request = api.OPENAPI["components"]["schemas"]["SignOffRequest"]
    assert request["required"] == ["attestation", "summary_hash"]
    assert request["properties"]["attestation"]["minLength"] == 10
    assert request["properties"]["summary_hash"]["pattern"] == "^[0-9a-f]{64}$"
    sign_off = api.OPENAPI["paths"]["/api/cycles/{cycle_id}/sign-off"]["post"]
    assert "summary" in sign_off["responses"]["409"]["description"]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reviewer", "auditor", "administrator"])
def test_only_approvers_sign_off(api_as, cycle, persona, request):
    response = sign_off(api_as(request.getfixturevalue(persona)), cycle)
    assert response.status_code == 403
    assert "sign_off_cycles" in response.json()["error"]


@pytest.mark.django_db
def test_signing_off_a_missing_cycle_is_404(api_as, approver):
    response = api_as(approver).post(
        "/api/cycles/999999/sign-off",
        {"attestation": "Reviewed in full.", "summary_hash": "0" * 64},
    )
    assert response.status_code == 404


# --- Evidence ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_evidence_pack_is_served_as_json(api_as, reviewer, auditor, cycle):
    decide_all(api_as(reviewer), cycle)
    response = api_as(auditor).get(f"/api/cycles/{cycle.pk}/evidence")
    assert response.status_code == 200
    body = response.json()
    pack = build_evidence_pack(cycle=cycle)
    assert body["cycle"] == json.loads(pack.files["cycle.json"])
    assert body["files"] == {
        "items.csv": pack.files["items.csv"].decode(),
        "decisions.csv": pack.files["decisions.csv"].decode(),
    }
    assert body["manifest"]["files"] == pack.manifest["files"]
    assert body["manifest"]["cycle_id"] == cycle.pk


@pytest.mark.django_db
def test_the_evidence_pack_is_served_as_a_zip(api_as, reviewer, auditor, cycle):
    decide_all(api_as(reviewer), cycle)
    response = api_as(auditor).get(f"/api/cycles/{cycle.pk}/evidence", {"format": "zip"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"cycle-{cycle.pk}-evidence.zip" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert names == {
        "items.csv",
        "decisions.csv",
        "cycle.json",
        "sign_off_summary.json",
        "manifest.json",
        "VERIFY.txt",
    }
    assert set(manifest["files"]) == names - {"manifest.json"}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reviewer", "approver", "outsider"])
def test_only_auditors_and_administrators_export_evidence(api_as, cycle, persona, request):
    response = api_as(request.getfixturevalue(persona)).get(f"/api/cycles/{cycle.pk}/evidence")
    assert response.status_code == 403
    assert "export_evidence" in response.json()["error"]


@pytest.mark.django_db
def test_an_approver_reads_the_pack_of_a_cycle_they_may_sign_off_as_on_the_cycle_page(
    api_as, reviewer, approver, cycle
):
    """As in the browser (README, People and roles): the pack of what they are about to sign,
    once every item is decided, and of what they signed; never one they may not sign."""
    url = f"/api/cycles/{cycle.pk}/evidence"
    refused = api_as(approver).get(url)  # items still wait for a decision
    assert refused.status_code == 403
    assert (
        "with sign_off_cycles, only the pack of a cycle you may sign off"
        in (refused.json()["error"])
    )
    decide_all(api_as(reviewer), cycle)
    assert api_as(approver).get(url).status_code == 200
    assert sign_off(api_as(approver), cycle).status_code == 200
    assert api_as(approver).get(url).status_code == 200
    other = make_person("olga.other-approver@example.com", Role.APPROVER)
    assert api_as(other).get(url).status_code == 403  # signed off by someone else
    assert AuditEntry.objects.filter(action="evidence_pack.exported", actor=approver).count() == 2


@pytest.mark.django_db
def test_evidence_in_an_unknown_format_is_400(api_as, administrator, cycle):
    response = api_as(administrator).get(f"/api/cycles/{cycle.pk}/evidence", {"format": "xlsx"})
    assert response.status_code == 400
    assert "format" in response.json()["errors"]


# --- Findings ---------------------------------------------------------------------------------


@pytest.fixture
def findings(account):
    other = make_account("444455556666", "Staging")
    return {
        "high": make_finding(account, "arn:aws:iam::111122223333:role/a"),
        "low": make_finding(account, "arn:aws:iam::111122223333:role/b", severity="low"),
        "resolved": make_finding(
            account, "arn:aws:iam::111122223333:role/c", status="resolved", resolved_at=NOW
        ),
        "staging": make_finding(other, "arn:aws:iam::444455556666:role/payments"),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.django_db
def test_findings_are_filtered_like_the_findings_page(api_as, auditor, findings):
    client = api_as(auditor)
    f = {name: finding.pk for name, finding in findings.items()}
    assert ids(client.get("/api/findings")) == {f["high"], f["low"], f["staging"]}
    assert ids(client.get("/api/findings", {"severity": "low"})) == {f["low"]}
    assert ids(client.get("/api/findings", {"account": "444455556666"})) == {f["staging"]}
    assert ids(client.get("/api/findings", {"status": "resolved"})) == {f["resolved"]}
    assert len(ids(client.get("/api/findings", {"status": "all"}))) == 4
    assert ids(client.get("/api/findings", {"q": "PAYMENTS"})) == {f["staging"]}
    assert ids(client.get("/api/findings", {"check": "nope"})) == set()
    rows = client.get("/api/findings", {"sort": "-severity"}).json()["results"]
    assert rows[0]["id"] == f["low"]
    assert set(rows[0]) >= {"id", "account", "check", "severity", "resource_arn", "evidence"}


@pytest.mark.django_db
def test_findings_are_paginated_up_to_200_a_page(api_as, auditor, findings):
    client = api_as(auditor)
    first = client.get("/api/findings", {"page_size": "2", "severity": ""}).json()
    assert first["count"] == 3 and len(first["results"]) == 2
    assert "page_size=2" in first["next"] and "page=2" in first["next"]
    rest = client.get(first["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert ids(client.get("/api/findings", {"page_size": "200"}))
    for bad in ("201", "0", "-1", "ten"):
        response = client.get("/api/findings", {"page_size": bad})
        assert response.status_code == 400
        assert "page_size" in response.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params", [{"status": "closed"}, {"sort": "name"}, {"severity": "urgent"}, {"page": "x"}]
)
def test_unknown_finding_filter_values_are_400_not_silently_replaced(api_as, auditor, params):
    response = api_as(auditor).get("/api/findings", params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(params)


@pytest.mark.django_db
def test_findings_take_a_fixed_number_of_queries(
    api_as, auditor, account, django_assert_max_num_queries
):
    for n in range(60):
        make_finding(account, f"arn:aws:iam::111122223333:role/r{n}")
    client = api_as(auditor)
    client.get("/api/findings")
    with django_assert_max_num_queries(5):
        response = client.get("/api/findings", {"page_size": "200"})
    assert len(response.json()["results"]) == 60


def _finding_queries(client, params) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/findings", params).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db
def test_the_findings_total_comes_from_the_cached_severity_counts_not_a_count_per_request(
    api_as, auditor, account
):
    client = api_as(auditor)
    for n in range(5):
        make_finding(account, f"arn:aws:iam::111122223333:role/r{n}")
    client.get("/api/findings", {"page_size": "2"})  # fills the cache
    for size in (5, 40):
        for n in range(5, size):
            make_finding(account, f"arn:aws:iam::111122223333:role/r{n}")
        client.get("/api/findings", {"page_size": "2"})
        sql = _finding_queries(client, {"page_size": "2", "page": "2"})
        assert not [q for q in sql if "COUNT(" in q.upper() and "findings_finding" in q], sql
        body = client.get("/api/findings", {"page_size": "2", "page": "2"}).json()
        assert body["count"] == size and len(body["results"]) == 2
        assert len(sql) == len(_finding_queries(client, {"page_size": "2"}))


@pytest.mark.django_db
def test_finding_pages_stop_at_the_row_limit_so_offset_stays_bounded(
    api_as, auditor, account, settings
):
    settings.FINDINGS_LIST_MAX_ROWS = 5
    for n in range(8):
        make_finding(account, f"arn:aws:iam::111122223333:role/r{n}")
    client = api_as(auditor)
    second = client.get("/api/findings", {"page_size": "3", "page": "2"}).json()
    assert second["count"] == 8
    assert len(second["results"]) == 2 and second["next"] is None
    beyond = client.get("/api/findings", {"page_size": "3", "page": "3"})
    assert beyond.status_code == 404
    assert "narrow the filters" in beyond.json()["error"]


@pytest.mark.django_db
def test_cycle_pages_count_at_most_the_row_limit_and_take_fixed_queries(
    api_as, reviewer, auditor, account, settings, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(api, "CYCLES_PAGE_SIZE", 2)
    settings.FINDINGS_LIST_MAX_ROWS = 3
    client = api_as(auditor)
    for count in (2, 5):
        while ReviewCycle.objects.count() < count:
            release_cycle(account, reviewer, name=f"app{ReviewCycle.objects.count()}", roles=3)
        client.get("/api/cycles")
        with django_assert_max_num_queries(5):  # the token (3), the bounded count, the page
            first = client.get("/api/cycles").json()
        assert first["count"] == min(count, 3)
        assert all(cycle["decided_count"] == 0 for cycle in first["results"])
    assert client.get("/api/cycles", {"page": "2"}).json()["next"] is None
    assert client.get("/api/cycles", {"page": "3"}).status_code == 404


@pytest.mark.django_db
def test_people_without_a_role_see_no_findings(api_as, outsider):
    response = api_as(outsider).get("/api/findings")
    assert response.status_code == 403
    assert "view_evidence" in response.json()["error"]


# --- Schema -----------------------------------------------------------------------------------


def api_routes() -> set[str]:
    """Every API route as an OpenAPI path: /api/cycles/{cycle_id}."""
    resolver = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    return {
        "/api/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern))
        for p in resolver.url_patterns
        if p.name != "api-unknown"
    }


@pytest.mark.django_db
def test_the_schema_is_public_json_and_describes_every_endpoint(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.1")
    assert set(schema["paths"]) == api_routes()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        **schema["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path != "/api/schema":
                assert {"401", "403"} <= set(operation["responses"]), (path, method)
    resolver = get_resolver()
    for path, operations in schema["paths"].items():
        view = resolver.resolve(path.replace("{cycle_id}", "1").replace("{item_id}", "1")).func
        assert {m.upper() for m in operations} == set(view.http_methods), path


def test_the_schema_is_a_valid_openapi_3_1_document():
    validator = pytest.importorskip("openapi_spec_validator")
    from findings.api.endpoints import OPENAPI

    validator.validate(OPENAPI)


@pytest.mark.django_db
def test_responses_match_the_schema(api_as, reviewer, second_reviewer, approver, auditor, cycle):
    """Real answers validated against the document's own component schemas."""
    jsonschema = pytest.importorskip("jsonschema")
    from findings.api.endpoints import OPENAPI

    def check(body, name):
        schema = {**OPENAPI["components"]["schemas"][name], "components": OPENAPI["components"]}
        jsonschema.Draft202012Validator(schema).validate(body)

    first, second = items_of(cycle)
    check(api_as(reviewer).decide(first, decision="keep", justification=IN_USE).json(), "Decision")
    check(api_as(second_reviewer).decide(first, decision="keep").json(), "FieldErrors")
    check(
        api_as(second_reviewer).decide(first, decision="keep", justification=IN_USE).json(),
        "ConflictError",
    )
    api_as(reviewer).decide(
        second, decision="accept_risk", justification="x", expires_on=in_a_month()
    )
    signed = sign_off(api_as(approver), cycle)
    check(signed.json(), "Cycle")
    for item in signed.json()["items"]:
        check(item, "ReviewItem")
    check(api_as(auditor).get(f"/api/cycles/{cycle.pk}/evidence").json(), "EvidencePack")
    for summary in api_as(auditor).get("/api/cycles").json()["results"]:
        check(summary, "CycleSummary")
    for finding in api_as(auditor).get("/api/findings", {"status": "all"}).json()["results"]:
        check(finding, "Finding")
    check(api_as(auditor).get("/api/cycles/999").json(), "Error")


@pytest.mark.django_db
def test_a_padded_status_or_sort_gives_the_same_count_as_results(api_as, auditor, account):
    for n in range(3):
        make_finding(account, f"arn:aws:iam::111122223333:role/p{n}")
    Finding.objects.filter(resource_name="p0").update(status=Finding.Status.RESOLVED)
    body = api_as(auditor).get("/api/findings", {"status": "all ", "sort": " severity"}).json()
    assert body["count"] == len(body["results"]) == 3


@pytest.mark.django_db
def test_new_notes_for_a_release_in_review_replace_the_old_ones_and_are_audited(
    api_as, reviewer, account
):
    """They were kept as first sent, silently; and the API took notes of any length."""
    known = iam_role(account, "checkout-api").arn
    release = {"application": "checkout", "version": "3.0.0", "role_arns": [known]}
    api_as(reviewer).post("/api/releases", {**release, "notes": "First cut"})

    renoted = api_as(reviewer).post("/api/releases", {**release, "notes": "Adds refunds"})
    retried = api_as(reviewer).post("/api/releases", release)  # no notes: kept

    assert renoted.status_code == 200
    assert renoted.json()["changes"]["notes_changed"] is True
    assert retried.json()["changes"] is None
    assert ReviewCycle.objects.get().notes == "Adds refunds"
    (entry,) = AuditEntry.objects.filter(action="cycle.release_notes_changed")
    assert (entry.before, entry.after) == ({"notes": "First cut"}, {"notes": "Adds refunds"})
    too_long = api_as(reviewer).post("/api/releases", {**release, "notes": "x" * 5001})
    assert too_long.status_code in (400, 422)
    assert "5000" in too_long.content.decode()
