"""Fetch Metadata (django-fetch-metadata): what another site's page makes a browser ask for in
the user's name is refused before any view runs; links from elsewhere, bookmarks and clients
that are not browsers (the API, pipelines) still work."""

import pytest

from findings.models import AuditEntry
from findings.reviews.evidence_pack import EXPORTED
from tests.findings.api.test_api import release_cycle
from tests.findings.detection.test_detect import make_account

pytestmark = pytest.mark.django_db

AN_IMAGE_ELSEWHERE = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "no-cors",
    "Sec-Fetch-Dest": "image",
}
A_LINK_ELSEWHERE = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
OUR_OWN_PAGE = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": ""}


@pytest.fixture
def cycle(reviewer):
    return release_cycle(make_account(), reviewer)


def test_an_image_on_another_site_cannot_download_an_evidence_pack_in_your_name(
    client, auditor, cycle
):
    """The download is a GET that records an export: an <img> anywhere could fill the audit
    trail and make the server build packs."""
    client.force_login(auditor)
    url = f"/review/cycles/{cycle.pk}/evidence.zip"

    refused = client.get(url, headers=AN_IMAGE_ELSEWHERE)

    assert refused.status_code == 403
    assert "Refused: another site asked for this" in refused.content.decode()
    assert not AuditEntry.objects.filter(action=EXPORTED).exists()
    # Nor a link, a script's navigation or a frame on another site, or on a sibling subdomain.
    for headers in (
        A_LINK_ELSEWHERE,
        {**A_LINK_ELSEWHERE, "Sec-Fetch-Dest": "iframe"},
        {**A_LINK_ELSEWHERE, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "iframe"},
    ):
        assert client.get(url, headers=headers).status_code == 403, headers
    assert not AuditEntry.objects.filter(action=EXPORTED).exists()
    # The app's own page, a bookmark or a typed address, and a client that is no browser.
    bookmark = {
        "Sec-Fetch-Site": "none",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
    }
    for headers in (OUR_OWN_PAGE, bookmark, {}):
        assert client.get(url, headers=headers).status_code == 200, headers
    assert AuditEntry.objects.filter(action=EXPORTED).count() == 3


def test_another_sites_frame_or_fetch_is_refused_and_a_link_is_not(client, auditor):
    client.force_login(auditor)
    for headers in (
        {**AN_IMAGE_ELSEWHERE, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"},
        {**A_LINK_ELSEWHERE, "Sec-Fetch-Dest": "embed"},
        {**AN_IMAGE_ELSEWHERE, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "object"},
    ):
        assert client.get("/findings/", headers=headers).status_code == 403, headers
    assert client.get("/findings/", headers=A_LINK_ELSEWHERE).status_code == 200
    # A POST from another site's page: refused here, before the CSRF check says so too.
    posted = client.post("/accounts/logout/", headers={**A_LINK_ELSEWHERE})
    assert posted.status_code == 403


def test_the_api_and_pipelines_send_no_fetch_metadata_and_pass(client, reviewer):
    from accounts.tokens import create_token

    _, raw = create_token(user=reviewer, name="pipeline")
    response = client.get("/api/cycles", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
