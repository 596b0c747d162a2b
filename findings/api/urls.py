"""The API's URLs: ninja's views for the operations in endpoints.py, worn like the project's.

Each is let through LoginRequiredMiddleware (a token, not a session, names the caller),
answers a method it does not take with a JSON 405 once the caller is authenticated, is never
cached, and declares who may call it for the URL-walking test (tests/accounts).
"""

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from ninja.operation import Operation

from findings.api.auth import TokenAuth
from findings.api.endpoints import api
from findings.api.errors import ApiError


def as_project_view(view, operation: Operation):
    methods = tuple(operation.methods)
    auth = operation.auth_callbacks[0] if operation.auth_callbacks else None

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method in methods:
            response = view(request, *args, **kwargs)
        else:
            response = wrong_method(request, methods, auth)
        response["Cache-Control"] = "no-store"
        return response

    wrapper.api = True
    wrapper.api_public = auth is None
    wrapper.http_methods = methods
    wrapper.required_capabilities = frozenset(auth.required if auth else ())
    wrapper.any_capabilities = frozenset(auth.any_of if auth else ())
    return csrf_exempt(login_not_required(wrapper))


def wrong_method(request, methods: tuple[str, ...], auth: TokenAuth | None) -> HttpResponse:
    """A JSON 405, once the caller is known: a call without a valid token is a 401 first."""
    error = ApiError(
        405,
        {"error": f"Use {' or '.join(methods)} here, not {request.method}."},
        {"Allow": ", ".join(methods)},
    )
    try:
        if auth:
            auth.identify(request)
    except ApiError as unauthenticated:
        error = unauthenticated
    return api.on_exception(request, error)


# One operation a path: the URL-walking test reads one set of capabilities a URL.
operations = {
    operation.url_name: operation
    for path_view in api.default_router.path_operations.values()
    for operation in path_view.operations
}
assert len(operations) == len(api.default_router.path_operations)

urlpatterns = [
    path(
        str(pattern.pattern),
        as_project_view(pattern.callback, operations[pattern.name]),
        name=pattern.name,
    )
    for pattern in api.urls[0]
    if pattern.name in operations
]
