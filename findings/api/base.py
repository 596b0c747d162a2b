"""What every JSON API view shares: the `api_view` decorator, bearer-token authentication,
capability checks, reading JSON bodies and query parameters, pagination, and JSON errors.

The endpoints themselves are in findings/api.py; what they answer is in findings/api_serializers.py.
"""

import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import date
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.core.validators import validate_email
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from accounts.permissions import Capability, can
from accounts.tokens import user_for_token
from findings.api.serializers import decision_record
from findings.reviews import services as review

# Named for the API as a whole (as before the split), so logging configuration keeps matching it.
log = logging.getLogger("findings.api.views")

WWW_AUTHENTICATE = 'Bearer realm="iamreview"'


class ApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}
        super().__init__(body)

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid(errors: dict[str, str]) -> ApiError:
    return ApiError(400, {"errors": errors})


def not_found(what: str) -> ApiError:
    return ApiError(404, {"error": f"No such {what}."})


# --- The decorator every API view wears -------------------------------------------------------


def authenticate(request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if not header:
        raise ApiError(
            401,
            {"error": "Authenticate with an API token: 'Authorization: Bearer <token>'."},
            {"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(
            401,
            {"error": "Use the Bearer scheme: 'Authorization: Bearer <token>'."},
            {"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="invalid_request"'},
        )
    user = user_for_token(raw.strip())
    if user is None:
        raise ApiError(
            401,
            {"error": "The API token is invalid or has been revoked."},
            {"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="invalid_token"'},
        )
    return user


def check_capabilities(user, required: Iterable[Capability], any_of: Iterable[Capability]):
    for capability in required:
        if not can(user, capability):
            raise ApiError(403, {"error": f"Requires the {capability.value} permission."})
    any_of = list(any_of)
    if any_of and not any(can(user, capability) for capability in any_of):
        names = " or ".join(c.value for c in any_of)
        raise ApiError(403, {"error": f"Requires the {names} permission."})


def domain_error_response(exc: Exception) -> JsonResponse:
    if isinstance(exc, review.Invalid):
        return JsonResponse({"errors": exc.errors}, status=400)
    if isinstance(exc, review.Conflict):
        current = decision_record(exc.current) if exc.current else None
        return JsonResponse({"error": str(exc), "current_decision": current}, status=409)
    return JsonResponse({"error": str(exc) or "Not allowed."}, status=403)


def api_view(
    *capabilities: Capability,
    methods: tuple[str, ...] = ("GET",),
    any_of: tuple[Capability, ...] = (),
    public: bool = False,
) -> Callable:
    """Bearer-token API view: the token's owner needs every capability listed (and one of
    `any_of`, when given). The URL-walking test reads the attributes set at the end."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if not public:
                    request.user = authenticate(request)
                if request.method not in methods:
                    raise ApiError(
                        405,
                        {"error": f"Use {' or '.join(methods)} here, not {request.method}."},
                        {"Allow": ", ".join(methods)},
                    )
                check_capabilities(request.user, capabilities, any_of)
                response = view(request, *args, **kwargs)
            except ApiError as exc:
                response = exc.response()
            except (review.Invalid, review.Conflict, review.Forbidden, PermissionDenied) as exc:
                response = domain_error_response(exc)
            except Http404:
                response = JsonResponse({"error": "Not found."}, status=404)
            except Exception:
                # The details go to the log, never to the client.
                log.exception("API error: %s %s", request.method, request.path)
                response = JsonResponse(
                    {"error": "Internal error; it has been logged."}, status=500
                )
            response["Cache-Control"] = "no-store"
            return response

        wrapper.api = True
        wrapper.api_public = public
        wrapper.http_methods = tuple(methods)
        wrapper.required_capabilities = frozenset(capabilities)
        wrapper.any_capabilities = frozenset(any_of)
        return csrf_exempt(login_not_required(wrapper))

    return decorator


# --- Reading input ----------------------------------------------------------------------------

DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def json_object(request) -> dict:
    if request.content_type != "application/json":
        raise invalid({"body": "Send a JSON object with 'Content-Type: application/json'."})
    try:
        data = json.loads(request.body or b"")
    except RequestDataTooBig:
        raise ApiError(413, {"error": "The request body is too large."}) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid({"body": f"Malformed JSON: {exc}"}) from None
    if not isinstance(data, dict):
        raise invalid({"body": "Send a JSON object, not an array or a single value."})
    return data


class Body:
    """Typed fields of a JSON object; collects one error per field, unknown fields included."""

    def __init__(self, request, fields: set[str]):
        self.data = json_object(request)
        self.errors = {name: "Unknown field." for name in self.data if name not in fields}

    def text(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.errors[name] = "Must be a string."
            return ""
        return value

    def texts(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.errors[name] = "Must be a list of strings."
            return []
        return value

    def day(self, name: str) -> date | None:
        value = self.data.get(name)
        if value in (None, ""):
            return None
        try:
            if not (isinstance(value, str) and DATE_FORMAT.match(value)):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.errors[name] = "Must be a date written YYYY-MM-DD."
            return None

    def integer(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors[name] = "Must be an integer id."
            return None
        return value

    def person(self, name: str) -> User | None:
        address = self.text(name).strip()
        if not address or name in self.errors:
            return None
        try:
            validate_email(address)
        except ValidationError:
            self.errors[name] = "Enter a valid email address."
            return None
        user = User.objects.filter(email__iexact=address).first()
        if user is None:
            self.errors[name] = f"No one with the email {address} uses iamreview."
        return user

    def check(self) -> None:
        if self.errors:
            raise invalid(self.errors)


def query_choice(request, name: str, choices: Iterable[str]) -> str:
    value = request.GET.get(name, "").strip()
    choices = list(choices)
    if value and value not in choices:
        raise invalid({name: f"Choose one of: {', '.join(choices)}."})
    return value


def query_int(request, name: str, *, default: int, maximum: int | None = None) -> int:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1 or (maximum and int(raw) > maximum):
        limit = f" up to {maximum}" if maximum else ""
        raise invalid({name: f"Must be a whole number from 1{limit}."})
    return int(raw)


def paginate(request, queryset, *, page_size: int) -> tuple[list, dict]:
    """One page of rows (two queries: count and page) and the envelope around it."""
    page = query_int(request, "page", default=1)
    count = queryset.count()
    rows = list(queryset[(page - 1) * page_size : page * page_size])
    if page > 1 and not rows:
        raise ApiError(404, {"error": f"There is no page {page}."})

    def link(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    envelope = {
        "count": count,
        "next": link(page + 1) if page * page_size < count else None,
        "previous": link(page - 1) if page > 1 else None,
    }
    return rows, envelope
