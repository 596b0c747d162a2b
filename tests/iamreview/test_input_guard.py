"""Input no page can store answers 400 with a clear message, before any view runs: NUL
characters and lone surrogates in query parameters, form fields and JSON bodies, and JSON
nested deeper than anything we accept."""

import io
import json

import pytest

from accounts.models import LinkedIdentity
from iamreview.input_guard import unusable_text

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/findings/?q=a%00b",
        "/findings/export.csv?q=a%00",
        "/inventory/users/?q=a%00b",
        "/findings/?a%00=1",
    ],
)
def test_a_nul_in_a_query_parameter_is_a_clear_400(login, administrator, url):
    response = login(administrator).get(url)

    assert response.status_code == 400
    body = response.content.decode()
    assert "contains a NUL character (\\u0000)" in body
    assert "Nothing was stored" in body
    assert response["Content-Type"].startswith("text/plain")


def test_the_same_question_without_the_nul_works(login, administrator):
    assert login(administrator).get("/findings/?q=ab").status_code == 200


def test_a_nul_in_a_form_field_is_refused_and_nothing_is_stored(login, reviewer):
    arn = "arn:aws:iam::111122223333:user/ri\x00ta"
    response = login(reviewer).post("/accounts/profile/identities/", {"arn": arn})

    assert response.status_code == 400
    assert "the form field 'arn' contains a NUL character" in response.content.decode()
    assert not LinkedIdentity.objects.exists()


def test_a_lone_surrogate_in_a_json_body_is_a_400_naming_the_field(login, administrator):
    body = '{"role_arns": ["ok", "\\ud800"]}'
    response = login(administrator).post(
        "/accounts/profile/identities/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "role_arns[1] contains a lone surrogate (\\ud800)" in response.content.decode()


def test_json_nested_200000_levels_deep_is_a_400(login, administrator):
    body = "[" * 200_000 + "]" * 200_000
    response = login(administrator).post(
        "/accounts/profile/identities/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "nested more than 64 levels deep" in response.content.decode()


def test_api_paths_get_the_same_refusal_as_json(client):
    response = client.get("/api/cycles?q=a%00")

    assert response.status_code == 400
    assert "contains a NUL character" in response.json()["errors"]["request"]


@pytest.mark.parametrize("url", ["/findings/", "/review/audit/", "/inventory/users/"])
def test_a_page_number_beyond_64_bits_is_not_a_server_error(login, auditor, url):
    response = login(auditor).get(f"{url}?page=9223372036854775809")
    assert response.status_code in {200, 400, 404}


def test_unusable_text_names_the_first_bad_place_in_document_order():
    document = {"a": ["fine", {"b": "x\x00"}], "c": "\ud800"}
    assert unusable_text(document) == ("a[1].b", "contains a NUL character (\\u0000)")
    assert unusable_text({"k\x00": 1}) == (
        "k\\u0000",
        "has a key that contains a NUL character (\\u0000)",
    )
    assert unusable_text(json.loads("[" * 70 + "]" * 70))[1] == "is nested more than 64 levels deep"
    assert unusable_text({"ok": [1, 2.5, None, True, "text"]}) is None


def test_parse_id_reads_ascii_digits_that_fit_a_bigint_and_nothing_else():
    from iamreview.input_guard import parse_id

    assert parse_id("42") == 42 and parse_id("0") == 0 and parse_id("9" * 18) == int("9" * 18)
    for odd in ("", None, "²", "١٢", "9" * 19, "-1", "+1", "1.0", " 1", "1\n", "0x1"):
        assert parse_id(odd) is None, odd


@pytest.mark.parametrize("url", ["/accounts/login/", "/findings/", "/api/cycles"])
def test_more_query_parameters_than_django_reads_are_a_clear_400(client, url, settings):
    """Django refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS; with DEBUG on its error page
    read them again and the error escaped as a 500."""
    settings.DEBUG = True
    response = client.get(url + "?" + "&".join(["x="] * 1200))
    assert response.status_code == 400
    message = "Bad request: more than 1,000 query parameters. Nothing was stored."
    if url.startswith("/api/"):
        assert response.json() == {"errors": {"request": message}}
    else:
        assert response.content.decode() == message


def test_more_form_fields_than_django_reads_are_a_clear_400(login, reviewer):
    response = login(reviewer).post(
        "/accounts/profile/identities/", {f"f{n}": "1" for n in range(1200)}
    )
    assert response.status_code == 400
    assert "more than 1,000 form fields" in response.content.decode()


@pytest.mark.parametrize("header", ["User-Agent", "Accept"])
def test_a_nul_in_a_header_is_a_clear_400_also_at_login(client, reviewer, header):
    """The lockout stores these two headers of every login; PostgreSQL refuses a NUL (a 500)."""
    response = client.post(
        "/accounts/login/",
        {"username": reviewer.email, "password": "wrong"},
        headers={header: "curl\x00"},
    )
    assert response.status_code == 400
    assert response.content.decode() == (
        f"Bad request: the {header} header contains a NUL character (\\u0000). Nothing was stored."
    )


@pytest.mark.parametrize("charset", ["utf-16", "latin-1"])
def test_a_form_in_another_charset_is_a_clear_400_with_debug_on(login, reviewer, settings, charset):
    settings.DEBUG = True
    response = login(reviewer).post(
        "/accounts/profile/identities/",
        "arn=x",
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )
    assert response.status_code == 400
    assert "the form could not be read" in response.content.decode()


def test_a_broken_multipart_body_is_a_clear_400_with_debug_on(login, reviewer, settings):
    settings.DEBUG = True
    response = login(reviewer).post(
        "/accounts/profile/identities/",
        b"--x\r\nnot a part",
        content_type="multipart/form-data; boundary=",
    )
    assert response.status_code == 400
    assert "the form could not be read (" in response.content.decode()


def test_more_files_than_django_reads_are_a_clear_400(login, administrator, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = {f"file{n}": io.BytesIO(b"x") for n in range(4)}
    for n, upload in enumerate(files.values()):
        upload.name = f"f{n}.json"
    response = login(administrator).post("/collection/import/", files)
    assert response.status_code == 400
    assert "more than 3 files" in response.content.decode()


def nested(depth: int, leaf: object) -> object:
    for n in range(depth):
        leaf = [leaf] if n % 2 else {"k": leaf}
    return leaf


@pytest.mark.parametrize(
    "document",
    [
        nested(64, "ok"),  # a string at the deepest allowed level
        nested(64, []),
        nested(65, []),  # an empty list one level too deep
        nested(65, 1),
        nested(63, {}),
        nested(64, {}),
        nested(64, {"k": 1}),
        nested(40, "caf\u00e9 \u2603"),
        nested(40, "bad \ud800"),
        nested(40, {"\ud800": 1}),
        nested(40, {"k\x00": 1}),
        nested(40, ("t", "\x00")),
        "\x00",
        "\udfff",
        {1: "\x00"},  # a key that is no string, a value that is unusable
        {"k": [1, 2.5, None, True, "fine"]},
    ],
)
def test_the_quick_check_agrees_with_the_walk_that_names_the_place(document):
    from iamreview.input_guard import _first_unusable

    assert unusable_text(document) == _first_unusable(document, max_depth=64)


@pytest.mark.parametrize("length", ["abc", "1e3", "-5", "\u0661\u0662"])
@pytest.mark.parametrize(
    ("url", "content_type"),
    [("/api/releases", "application/json"), ("/accounts/login/", FORM_CONTENT_TYPE)],
)
def test_a_content_length_that_is_not_a_number_is_a_clear_400(client, length, url, content_type):
    """Django's reading of the body failed on it with a 500, before any login."""
    response = client.generic("POST", url, b"{}", content_type=content_type, CONTENT_LENGTH=length)

    assert response.status_code == 400
    assert "Content-Length header" in response.content.decode()
