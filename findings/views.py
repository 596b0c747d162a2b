from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import Capability, requires, roles_of


@require_GET
@requires()
def dashboard(request):
    return render(request, "findings/dashboard.html", {"roles": roles_of(request.user)})


def _coming(request, title: str, what: str):
    return render(request, "findings/coming.html", {"title": title, "what": what})


@require_GET
@requires(Capability.VIEW)
def review(request):
    return _coming(request, "Review", "Monthly, quarterly and per-release review cycles")
