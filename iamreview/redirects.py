"""Where a form goes back to: the page it names in its `next` field, when that is one of ours."""

from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


def local_path(target: str, request) -> str:
    """`target` when it is a path on this site ("/collection/?page=2"), else "".

    A path, not any relative URL: a bare word ("abc") given to `redirect()` is looked up as a
    view name and was a 500, and would otherwise resolve against the posting page's URL."""
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return ""


def back_to(request, default: str) -> HttpResponseRedirect:
    """A redirect to the form's `next` path when it is one of ours, else to `default`."""
    return HttpResponseRedirect(local_path(request.POST.get("next", ""), request) or default)
