from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import requires, roles_of
from findings.dashboard.selectors import dashboard_context


@requires()
@require_GET
def dashboard(request):
    roles = roles_of(request.user)
    context = {"roles": roles, **(dashboard_context(user=request.user) if roles else {})}
    return render(request, "findings/dashboard/dashboard.html", context)
