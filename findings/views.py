from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import requires, roles_of


@require_GET
@requires()
def dashboard(request):
    return render(request, "findings/dashboard.html", {"roles": roles_of(request.user)})


def _coming(request, title: str, what: str):
    return render(request, "findings/coming.html", {"title": title, "what": what})
