"""A page, not a blank screen, for an address that only takes a form.

`require_POST` and its kin answer other methods with Django's `HttpResponseNotAllowed`: a 405
with an empty body. Someone who reopens such an address from the address bar (a refused
sign-off re-rendered in place, a token just created) saw a white page without navigation. The
middleware fills that empty body with a page in the app's layout, keeping the status, the
`Allow` header and every other header the view set. The API (/api/) answers JSON itself.
"""

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, get_script_prefix, resolve
from django.views.decorators.http import require_http_methods

# The code of the function `require_http_methods` wraps a view in: shared by every view it
# decorates, each with its own list of methods in the closure.
_METHOD_CHECK = require_http_methods([])(lambda request: None).__code__


def allowed_methods(view) -> list[str] | None:
    """The methods `require_http_methods` (or `require_POST`, `require_GET`) lets through to
    `view`, looked up through the decorators that wrap it; None when it does not restrict."""
    while view is not None:
        code = getattr(view, "__code__", None)
        if code is _METHOD_CHECK and "request_method_list" in code.co_freevars:
            cell = view.__closure__[code.co_freevars.index("request_method_list")]
            return list(cell.cell_contents)
        view = getattr(view, "__wrapped__", None)
    return None


def form_page(path: str) -> str | None:
    """The nearest page above `path` (a path_info) that a browser can open: the page the form
    is on, for every form of this app (/review/cycles/7/sign-off/ -> /review/cycles/7/,
    /accounts/profile/tokens/3/revoke/ -> /accounts/profile/, past the POST-only
    /accounts/profile/tokens/). None when only the dashboard is above it."""
    parts = path.strip("/").split("/")
    for end in range(len(parts) - 1, 0, -1):
        candidate = "/" + "/".join(parts[:end]) + "/"
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        methods = allowed_methods(match.func)
        if methods is None or "GET" in methods:
            return get_script_prefix() + candidate.lstrip("/")
    return None


def wants_a_page(request: HttpRequest, response: HttpResponse) -> bool:
    return (
        response.status_code == 405
        and not response.streaming
        and not response.content
        and not request.path.startswith("/api/")
        and request.accepts("text/html")
    )


class NotAllowedPageMiddleware:
    """Last in MIDDLEWARE: the page it writes still gets the headers (CSP, security, cookies)
    that the middleware above adds on the way out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if wants_a_page(request, response):
            allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
            response.content = render_to_string(
                "405.html",
                {"allowed": allowed, "form_page": form_page(request.path_info)},
                request=request,
            )
            response["Content-Type"] = "text/html; charset=utf-8"
        return response
