"""Input no page or API can store: NUL characters (PostgreSQL text refuses them), lone surrogates
(not Unicode: they cannot be encoded) and JSON nested deeper than anything we accept.

`unusable_text` finds the first such value in parsed data and names its place; the middleware
answers 400 for any request whose headers, query parameters, form fields or JSON body hold one
(or that has more parameters than Django reads, or a form it cannot read), before a view runs,
so every page and the API get the same guard.
"""

import json
import re

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

MAX_JSON_DEPTH = 64
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def shown(text: str) -> str:
    """Text safe to put in a message: NUL and surrogates spelled as escapes."""
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")


def text_problem(text: str) -> str:
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate ({shown(text[exc.start])}), which is not valid Unicode"
    return ""


def unusable_text(value: object, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """(path, problem) of the first unusable string or key, or too-deep nesting, in document
    order; None when everything is usable. Paths read like `RoleDetailList[3].Description`."""
    if _usable(value, max_depth=max_depth):
        return None  # the usual case, found without naming every place (a third of the cost)
    return _first_unusable(value, max_depth=max_depth)


def _bad(text: str) -> bool:
    # isascii is a quick scan, and ASCII text holds no surrogate: only NUL is left to look for.
    return "\x00" in text or (not text.isascii() and bool(text_problem(text)))


def _usable(value: object, *, max_depth: int) -> bool:
    """Whether unusable_text finds nothing: the same rules, without building paths."""
    if isinstance(value, str):
        return not _bad(value)
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if item and depth >= max_depth:
                return False  # its members are deeper than allowed
            for key, child in item.items():
                if isinstance(key, str) and _bad(key):
                    return False
                if isinstance(child, str):
                    if _bad(child):
                        return False
                elif isinstance(child, dict | list | tuple):
                    stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            if item and depth >= max_depth:
                return False
            for child in item:
                if isinstance(child, str):
                    if _bad(child):
                        return False
                elif isinstance(child, dict | list | tuple):
                    stack.append((child, depth + 1))
    return True


def _first_unusable(value: object, *, max_depth: int) -> tuple[str, str] | None:
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            return where or "(top level)", f"is nested more than {max_depth} levels deep"
        if isinstance(item, str):
            if problem := text_problem(item):
                return where or "(top level)", problem
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                place = f"{where}.{shown(str(key))}" if where else shown(str(key))
                if isinstance(key, str) and (problem := text_problem(key)):
                    return place, f"has a key that {problem}"
                children.append((child, place, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(
                reversed([(child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item)])
            )
    return None


def json_problem(body: bytes) -> str:
    """Why a JSON request body is unusable, or "" (invalid JSON is left to the view)."""
    try:
        document = json.loads(body)
    except RecursionError:
        return f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError:
        return ""
    found = unusable_text(document)
    return f"the JSON body's field {found[0]} {found[1]}" if found else ""


def _parameters_problem(parameters, kind: str) -> str:
    for key, values in parameters.lists():
        if problem := text_problem(key):
            return f"a {kind} name {problem}"
        for value in values:
            if isinstance(value, str) and (problem := text_problem(value)):
                return f"the {kind} {shown(key)!r} {problem}"
    return ""


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def header_problem(request) -> str:
    """A NUL in a header: no client sends one (gunicorn refuses them; `runserver` does not), and
    the login's lockout stores the User-Agent and Accept headers, which PostgreSQL refuses."""
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            name = key[5:].replace("_", "-").title()
            return f"the {name} header contains a NUL character (\\u0000)"
    return ""


def length_problem(request) -> str:
    """A Content-Length that is not a number of bytes: Django's reading of the body (forms,
    JSON, the API) failed on it with a 500 (`int("abc")`). gunicorn refuses such a header;
    `runserver` and other servers may not."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length and not (length.isascii() and length.isdigit()):
        return f"the Content-Length header ({shown(length)[:40]!r}) is not a number of bytes"
    return ""


def request_problem(request) -> str:
    if problem := header_problem(request) or length_problem(request):
        return problem
    try:
        if problem := _parameters_problem(request.GET, "query parameter"):
            return problem
    except TooManyFieldsSent:
        return f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} query parameters"
    if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return ""
    if request.content_type in FORM_TYPES:
        if is_api(request):
            # The API reads JSON only, and says so (400) from the body it must still be able
            # to read: parsing the form here would use the stream up.
            return ""
        try:
            return _parameters_problem(request.POST, "form field")
        except TooManyFieldsSent:
            return f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} form fields"
        except TooManyFilesSent:
            return f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files"
        except (BadRequest, MultiPartParserError) as exc:
            # A form in another charset than UTF-8, a broken multipart body. (Django answers
            # 400 itself, but with DEBUG on its error page read the form again: a 500.)
            return f"the form could not be read ({shown(str(exc))[:200]})"
    if request.content_type in JSON_TYPES or request.content_type.endswith("+json"):
        try:
            body = request.body
        except RequestDataTooBig:
            return ""  # the view answers that (413), as it would without this guard
        return json_problem(body)
    return ""


class RejectUnusableInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if problem := request_problem(request):
            message = f"Bad request: {problem}. Nothing was stored."
            if is_api(request):
                # The API's own shape for a 400 (FieldErrors), documented on every operation.
                return JsonResponse({"errors": {"request": message}}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


ASCII_ID = re.compile(r"[0-9]{1,18}")


def parse_id(text: str | None) -> int | None:
    """The number `text` spells in ASCII digits, at most 18 of them (a database id fits), else
    None. `str.isdigit` also accepts "²" and other digits that `int()` refuses, and longer
    numbers overflow the database's bigint: both were 500s."""
    if text is None or not ASCII_ID.fullmatch(text):
        return None
    return int(text)
