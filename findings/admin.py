"""Django admin: webhooks (every change audited) and their delivery log (read-only)."""

from django import forms
from django.contrib import admin

from accounts.admin import FilterLookupsOnly
from findings.audit.services import record
from findings.models import Webhook, WebhookDelivery


class WebhookForm(forms.ModelForm):
    """Events ticked from the list of those iamreview sends: a misspelt name, a number or an
    object typed as JSON was stored, and never fired (or, a number, stopped every webhook)."""

    events = forms.MultipleChoiceField(
        choices=Webhook.Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "secret", "format", "events", "is_active"]

    def clean_events(self) -> list[str]:
        return list(self.cleaned_data["events"])


def _described(webhook: Webhook) -> dict:
    # Never the secret itself: only whether it changed is worth knowing.
    return {
        "name": webhook.name,
        "url": webhook.url,
        "format": webhook.format,
        "events": webhook.events,
        "is_active": webhook.is_active,
    }


@admin.register(Webhook)
class WebhookAdmin(FilterLookupsOnly, admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "url", "format", "is_active", "created_at"]
    list_filter = ["format", "is_active"]

    def save_model(self, request, obj, form, change):
        before = _described(Webhook.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        record(
            actor=request.user,
            action="webhook.changed" if change else "webhook.created",
            target_type="webhook",
            target_id=obj.pk,
            target_label=obj.name,
            before=before,
            after={**_described(obj), "secret_changed": "secret" in form.changed_data},
        )

    def delete_model(self, request, obj):
        record(
            actor=request.user,
            action="webhook.deleted",
            target_type="webhook",
            target_id=obj.pk,
            target_label=obj.name,
            before=_described(obj),
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        """ "Delete selected" deletes with one query and no delete_model: each one audited."""
        for webhook in queryset:
            self.delete_model(request, webhook)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(FilterLookupsOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "webhook",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status", "event", "webhook"]
    list_select_related = ["webhook"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
