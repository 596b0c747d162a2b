"""How the API says no: every failure as a JSON answer a client can act on.

400 names each bad field ({"errors": {field: message}}, 'body' for a body that is not a JSON
object), 401/403/404/405/409/413 say why ({"error": ...}), and a 500 says only that it was
logged. Request bodies are read here too, so a body that is not a JSON object is told why.
"""

import json
import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError
from ninja.parser import Parser

from findings.api.schemas import Decision
from findings.reviews import services as review

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer instead of a result: a status, a JSON body and perhaps headers."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}
        super().__init__(body)


def invalid(errors: dict[str, str]) -> ApiError:
    return ApiError(400, {"errors": errors})


def forbidden(exc: Exception) -> ApiError:
    return ApiError(403, {"error": str(exc) or "Not allowed."})


def not_found(what: str) -> ApiError:
    return ApiError(404, {"error": f"No such {what}."})


def too_large() -> ApiError:
    return ApiError(413, {"error": "The request body is too large."})


# --- Reading bodies ---------------------------------------------------------------------------


class RepeatedKey(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


def _once_each(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are each given once. `json.loads` keeps the last of a repeated
    key: `{"decision": "keep", ..., "decision": "remediate"}` would record what a reader of
    the first part, or a log cut short, never saw."""
    data = {}
    for key, value in pairs:
        if key in data:
            raise RepeatedKey(key)
        data[key] = value
    return data


def json_object(request) -> dict:
    """The request's body as a JSON object, or an ApiError saying what is wrong with it."""
    if request.content_type != "application/json":
        raise invalid({"body": "Send a JSON object with 'Content-Type: application/json'."})
    try:
        data = json.loads(request.body or b"", object_pairs_hook=_once_each)
    except RequestDataTooBig:
        raise too_large() from None
    except RepeatedKey as exc:
        raise invalid({exc.key[:100]: f"Give {exc.key[:100]} once, not twice."}) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid({"body": f"Malformed JSON: {exc}"}) from None
    if not isinstance(data, dict):
        raise invalid({"body": "Send a JSON object, not an array or a single value."})
    return data


class JsonObjectParser(Parser):
    """Ninja's parser, for JSON objects sent as application/json only, and query parameters
    given once each (ninja would silently take the last of `?page=1&page=2`)."""

    def parse_body(self, request) -> dict:
        return json_object(request)

    def parse_querydict(self, data, list_fields: list[str], request) -> dict:
        repeated = {
            key: f"Give {key} once, not {len(values)} times."
            for key, values in data.lists()
            if key not in list_fields and len(values) > 1
        }
        if repeated:
            raise invalid(repeated)
        return super().parse_querydict(data, list_fields, request)


def field_errors(request, exc: ValidationError) -> ApiError:
    """One message per field, as the schemas' validators word them.

    Pydantic locates an error as (source, field, ...), with a body's parameter name between:
    ("query", "page"), ("body", "release", "role_arns", 0). An error about the body as a whole
    means it was empty (ninja reads no empty body); json_object says what it should be.
    """
    errors = {}
    for error in exc.errors:
        source, *where = error["loc"]
        if source == "body":
            where = where[1:]
        if not where:
            try:
                json_object(request)
            except ApiError as problem:
                return problem
            where = ["body"]
        message = "Unknown field." if error["type"] == "extra_forbidden" else error["msg"]
        errors.setdefault(str(where[0]), message)
    return invalid(errors)


# --- Answering --------------------------------------------------------------------------------


def add_error_answers(api: NinjaAPI) -> None:
    """Every exception an operation may raise, as the JSON answer the API gives for it."""

    def answer(request, error: ApiError):
        response = api.create_response(request, error.body, status=error.status)
        for name, value in error.headers.items():
            response[name] = value
        return response

    def ninja_error(request, exc: HttpError):
        # Ninja reports a body its parser refused as 400 "Cannot parse request body"; ours says why.
        cause = exc.__cause__
        if isinstance(cause, ApiError):
            return answer(request, cause)
        return answer(request, ApiError(exc.status_code, {"error": exc.message}))

    def conflict(request, exc: review.Conflict):
        current = Decision.model_validate(exc.current).model_dump() if exc.current else None
        return answer(request, ApiError(409, {"error": str(exc), "current_decision": current}))

    def unexpected(request, exc: Exception):
        # The details go to the log, never to the client.
        log.exception("API error: %s %s", request.method, request.path)
        return answer(request, ApiError(500, {"error": "Internal error; it has been logged."}))

    handlers = {
        ApiError: answer,
        ValidationError: lambda request, exc: answer(request, field_errors(request, exc)),
        HttpError: ninja_error,
        RequestDataTooBig: lambda request, exc: answer(request, too_large()),
        review.Invalid: lambda request, exc: answer(request, invalid(exc.errors)),
        review.Conflict: conflict,
        review.Forbidden: lambda request, exc: answer(request, forbidden(exc)),
        PermissionDenied: lambda request, exc: answer(request, forbidden(exc)),
        Http404: lambda request, exc: answer(request, ApiError(404, {"error": "Not found."})),
        Exception: unexpected,
    }
    for exception, handler in handlers.items():
        api.add_exception_handler(exception, handler)
