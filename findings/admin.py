"""Django admin: webhooks (every change audited) and their delivery log (read-only)."""

import re
from functools import partial
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin
from django.utils.crypto import salted_hmac

from accounts.admin import FilterLookupsOnly
from findings.audit.services import record
from findings.models import Webhook, WebhookDelivery
from findings.notifications.webhooks import url_problem


class WriteOnlySecret(forms.CharField):
    """A secret typed in and never shown back (the change page showed it to anyone with the
    admin, while the audit log never holds it). Left blank, it is no change."""

    widget = forms.PasswordInput(render_value=False)

    def has_changed(self, initial, data) -> bool:
        return bool(data) and super().has_changed(initial, data)


class WebhookForm(forms.ModelForm):
    """Events ticked from the list of those iamreview sends: a misspelt name, a number or an
    object typed as JSON was stored, and never fired (or, a number, stopped every webhook).
    The signing secret is write-only: required to create a webhook, kept when left blank."""

    secret = WriteOnlySecret(
        max_length=Webhook._meta.get_field("secret").max_length,
        help_text="Shared secret for the X-IAMReview-Signature HMAC-SHA256 header.",
    )
    events = forms.MultipleChoiceField(
        choices=Webhook.Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "secret", "format", "events", "is_active"]
        # A URL typed without a scheme is read as https (Django 6's default), not http.
        field_classes = {"url": partial(forms.URLField, assume_scheme="https")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["secret"].required = False
            self.fields["secret"].help_text = (
                "Stored and never shown. Leave blank to keep it, or type a new one to replace "
                "it (receivers verifying the signature need the new one too)."
            )
        if unknown := self._unknown_stored_events():
            self.fields["events"].help_text = (
                f"It lists events iamreview does not send ({', '.join(unknown)}), so it hears "
                "none: tick the ones it should hear (all of them for every event)."
            )

    def _unknown_stored_events(self) -> list[str]:
        stored = self.instance.events if self.instance.pk else []
        known = set(Webhook.Event.values)
        if not isinstance(stored, list):
            return [repr(stored)[:60]]
        return [str(event)[:60] for event in stored if event not in known]

    def clean_events(self) -> list[str]:
        events = list(self.cleaned_data["events"])
        stored = self.instance.events if self.instance.pk else []
        # None ticked means every event: saved as that, a webhook that heard nothing (its
        # events all unknown) would start hearing everything, for a change of its URL.
        if not events and stored and self._unknown_stored_events():
            raise forms.ValidationError(
                "This webhook heard no event (it lists only events iamreview does not send): "
                "tick the events it should hear, all of them for every event."
            )
        return events

    def clean_secret(self) -> str:
        return self.cleaned_data["secret"] or self.instance.secret

    def clean_url(self) -> str:
        """Refused here as it would be at each attempt (webhooks.url_problem): a URL that
        reads as one host to one parser and another host to the next never gets saved."""
        url = self.cleaned_data["url"]
        if problem := url_problem(url=url):
            raise forms.ValidationError(f"This URL cannot be delivered to: {problem}.")
        return url


def _origin(url: str) -> str:
    """The URL's scheme and host (and port): where it goes, without the path, the query or a
    user:password@, any of which may be the credential (a Slack incoming-webhook URL is)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def _url_fingerprint(url: str) -> str:
    """Tells one URL from another in the audit log without revealing it: keyed with
    SECRET_KEY (a plain hash of a URL whose token is short could be guessed back from the
    log, which is exported)."""
    return salted_hmac("findings.webhook-url", url, algorithm="sha256").hexdigest()[:32]


def _described(webhook: Webhook) -> dict:
    # Never the secret, nor the URL's path and query: only where it goes and whether it
    # changed are worth knowing, and the audit log is read by auditors and never purged.
    return {
        "name": webhook.name,
        "url_origin": _origin(webhook.url),
        "url_fingerprint": _url_fingerprint(webhook.url),
        "format": webhook.format,
        "events": webhook.events,
        "is_active": webhook.is_active,
    }


@admin.register(Webhook)
class WebhookAdmin(FilterLookupsOnly, admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "destination", "format", "is_active", "created_at"]
    list_filter = ["format", "is_active"]

    def get_fields(self, request, obj=None) -> list[str]:
        """Someone who may only view a webhook sees no secret field: a read-only field would
        print it."""
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            fields = [name for name in fields if name != "secret"]
        return fields

    @admin.display(description="URL")
    def destination(self, obj: Webhook) -> str:
        return f"{_origin(obj.url)}/…"

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
            after={
                **_described(obj),
                "url_changed": "url" in form.changed_data,
                "secret_changed": "secret" in form.changed_data,
            },
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
    exclude = ["last_error"]
    readonly_fields = [
        "error" if f.name == "last_error" else f.name for f in WebhookDelivery._meta.fields
    ]

    @admin.display(description="last error")
    def error(self, obj: WebhookDelivery) -> str:
        """Deliveries logged before answers were described by status alone kept the first 200
        characters of the answer ("HTTP 405: <body>"), which may be an internal service's."""
        status, colon, _ = obj.last_error.partition(": ")
        if colon and re.fullmatch(r"HTTP \d{3}", status):
            return f"{status} (answer not shown)"
        return obj.last_error

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
