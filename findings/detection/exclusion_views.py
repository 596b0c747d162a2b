"""The exclusion pages: the list, adding one (for a finding or a pattern, after a preview),
ending one.

Views parse input, call one function of findings.detection.exclusions and present the result.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Capability, requires
from findings.detection.exclusions import create_exclusion, end_exclusion, preview_exclusion
from findings.detection.forms import ExclusionForm
from findings.detection.selectors import check_title
from findings.models import Exclusion, Finding
from iamreview.input_guard import parse_id
from iamreview.redirects import back_to


@requires(Capability.VIEW)
@require_GET
def exclusion_list(request):
    today = timezone.localdate()
    exclusions = list(
        Exclusion.objects.select_related(
            "account", "owner", "created_by", "ended_by", "finding__account"
        ).order_by("-created_at")[:500]
    )
    counts = dict(
        Finding.objects.filter(
            exclusion_id__in=[e.pk for e in exclusions], status=Finding.Status.EXCLUDED
        )
        .values("exclusion_id")
        .annotate(n=Count("id"))
        .values_list("exclusion_id", "n")
    )
    for exclusion in exclusions:
        exclusion.excluded_count = counts.get(exclusion.pk, 0)
        exclusion.is_expired = exclusion.expires_on < today
        exclusion.check_label = (
            check_title(check_id=exclusion.check_id) if exclusion.check_id else ""
        )
    active = [e for e in exclusions if e.ended_at is None and not e.is_expired]
    past = [e for e in exclusions if e.ended_at is not None or e.is_expired]
    return render(request, "findings/detection/exclusions.html", {"active": active, "past": past})


@requires(Capability.MANAGE_ACCOUNTS)
@require_http_methods(["GET", "POST"])
def exclusion_add(request):
    """Two steps: a submission shows what the exclusion would set aside now; the next one,
    echoing that preview (and confirming any critical finding), creates it. A change to the
    form or to the findings in between shows the new preview instead."""
    finding = None
    finding_id = request.POST.get("finding") or request.GET.get("finding")
    if (pk := parse_id(finding_id)) is not None:
        finding = Finding.objects.select_related("account").filter(pk=pk).first()
    preview, preview_changed = None, False
    if request.method == "POST":
        form = ExclusionForm(request.POST)
        if form.is_valid():
            try:
                preview = preview_exclusion(**form.arguments())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                previewed = form.cleaned_data["previewed"]
                if previewed == preview.token:
                    try:
                        exclusion = create_exclusion(
                            **form.arguments(),
                            created_by=request.user,
                            critical_confirmed=form.cleaned_data["confirm_critical"],
                        )
                    except ValidationError as exc:
                        form.add_error(None, exc)
                    else:
                        return _created(request, exclusion)
                preview_changed = bool(previewed) and previewed != preview.token
    else:
        form = ExclusionForm(
            initial=ExclusionForm.initial_for(
                user=request.user, finding=finding, arn_pattern=request.GET.get("arn", "")
            )
        )
    return render(
        request,
        "findings/detection/exclusion_form.html",
        {
            "form": form,
            "finding": finding,
            "preview": preview,
            "preview_changed": preview_changed,
        },
    )


def _created(request, exclusion: Exclusion):
    if exclusion.finding_id:
        messages.success(
            request, f"This finding is excluded until {exclusion.expires_on:%Y-%m-%d}."
        )
        return redirect("finding", pk=exclusion.finding_id)
    count = Finding.objects.filter(exclusion=exclusion).count()
    messages.success(
        request,
        f"Excluded {exclusion.describe()} until {exclusion.expires_on:%Y-%m-%d}: "
        f"{count} finding{pluralize(count)} set aside now.",
    )
    return redirect("exclusions")


@requires(Capability.MANAGE_ACCOUNTS)
@require_POST
def exclusion_end(request, pk: int):
    exclusion = get_object_or_404(Exclusion, pk=pk)
    try:
        end_exclusion(exclusion=exclusion, ended_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Ended the exclusion of {exclusion.describe()}: its findings are back."
        )
    return back_to(request, reverse("exclusions"))
