"""Pages and downloads for a logged-in person are never stored by a browser or a proxy.

IAM findings, audit logs and evidence packs kept in a browser's disk cache, or by a proxy in
front, outlive the session: someone else at the same machine could reopen them after logout.
A view that sets its own Cache-Control keeps it (the API sets no-store itself).
"""

from django.utils.cache import add_never_cache_headers


class PrivatePagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
