"""Error pages in the app's layout, also with DEBUG on, and the admin for non-staff people."""

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.generic import RedirectView

from iamreview.redirects import local_path


class StyledNotFoundMiddleware:
    """A view's 404 (a finding that does not exist) shows the styled page, not Django's debug
    page: people try the demo with DEBUG on. Unknown URLs keep Django's handling."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith("/api/"):
            return None  # the API answers JSON errors itself
        if isinstance(exception, Http404):
            return render(request, "404.html", status=404)
        return None


class AdminLoginView(RedirectView):
    """The admin's login page. Anonymous visitors go to the one login page; a logged-in person
    who is not staff gets a 403 that explains, instead of a redirect loop between the two."""

    pattern_name = "login"
    query_string = True

    def get(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            if request.user.is_staff:
                target = local_path(request.GET.get("next", ""), request) or "/admin/"
                return HttpResponseRedirect(target)
            return render(
                request,
                "403.html",
                {"exception": "The Django admin is for administrators."},
                status=403,
            )
        return super().get(request, *args, **kwargs)


def cross_site_refused(request, reason: str = "", headers=None):
    """A request another site's page made (Fetch Metadata): refused before any view ran."""
    return render(
        request,
        "error_page.html",
        {
            "error_code": "403",
            "error_title": "Refused: another site asked for this",
            "error_text": "A page of another site made your browser ask for this in your name, "
            "and it was refused. Open iamreview directly, or follow a link to it, instead.",
        },
        status=403,
    )
