from django import forms
from django.contrib import admin
from django.contrib.admin.filters import FieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group

from accounts.models import EMAIL_TAKEN, LinkedIdentity, User
from accounts.people import deactivate_person, set_roles
from accounts.permissions import Capability, Role, can
from accounts.profile_views import (
    SeparationOfDuties,
    identity_arn,
    link_identity,
    unlink_identity,
)
from findings.reviews.services import items_to_hand_back

DATE_HIERARCHY_LIMITS = {"year": 9998, "month": 12, "day": 31}
ROLE_NAMES = {role.value for role in Role}


class FilterLookupsOnly:
    """A changelist takes only the lookups its filters and date hierarchy make.

    Django's admin takes any lookup on a model's own fields from the query string: an invalid
    regular expression (`?email__regex=(`) or a year past what Python's dates hold was a 500,
    and any column, a password hash too, could be probed one character at a time. Anything
    else is refused with a 400 (DisallowedModelAdminLookup)."""

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup in self.filter_parameters(request):
            return True
        if self.date_hierarchy and lookup.startswith(f"{self.date_hierarchy}__"):
            # Django builds a date from these itself, and a year too long for a C integer
            # (or 9999, whose next year is 10000) is an OverflowError it does not catch.
            limit = DATE_HIERARCHY_LIMITS.get(lookup.removeprefix(f"{self.date_hierarchy}__"))
            return limit is not None and _small_number(value, limit)
        return False

    def filter_parameters(self, request) -> set[str]:
        """The query-string parameters of the changelist's filters, built as ChangeList builds
        them (a related field's filter reads its choices: one query)."""
        parameters = set()
        for list_filter in self.get_list_filter(request):
            if callable(list_filter):
                spec = list_filter(request, {}, self.model, self)
            else:
                field, filter_class = (
                    list_filter
                    if isinstance(list_filter, (list, tuple))
                    else (list_filter, FieldListFilter.create)
                )
                path = None
                if isinstance(field, str):
                    path, field = field, get_fields_from_path(self.model, field)[-1]
                spec = filter_class(field, request, {}, self.model, self, field_path=path)
            parameters.update(spec.expected_parameters())
        return parameters


def _small_number(value, limit: int) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit() and int(value) <= limit


class EmailUniqueIgnoringCase:
    """Admin forms that set an email: stored in lower case, as everywhere else, and refused
    beside another person's address in any case. Login matches addresses case-insensitively,
    so `REVIEWER@…` beside `reviewer@…` made every login for it a 500; the database refuses it
    too (User.Meta), but that would be an IntegrityError here rather than a message."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        others = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(EMAIL_TAKEN, code="unique")
        return email


class UserAddForm(EmailUniqueIgnoringCase, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ["email"]


class UserEditForm(EmailUniqueIgnoringCase, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(FilterLookupsOnly, BaseUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    ordering = ["email"]
    list_display = ["email", "full_name", "roles", "is_active", "is_staff", "last_login"]
    search_fields = ["email", "full_name"]
    list_filter = ["is_active", "groups"]
    fieldsets = [
        (None, {"fields": ["email", "password", "full_name"]}),
        ("Roles", {"fields": ["is_active", "is_staff", "groups"]}),
        (
            "Single sign-on",
            {
                "fields": ["sso_issuer", "sso_subject"],
                "description": "The identity this person signs in as. To let another identity "
                "of the provider take this account over (someone re-created there), clear it "
                "with the action “Clear the single sign-on link” on the people list.",
            },
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = ["sso_issuer", "sso_subject"]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal = ["groups"]
    actions = ["clear_sso_link"]

    @admin.action(description="Clear the single sign-on link", permissions=["change"])
    def clear_sso_link(self, request, queryset) -> None:
        """The next single sign-on with a verified email links again (each change audited)."""
        cleared = 0
        for user in queryset.exclude(sso_subject=""):
            user.sso_issuer = user.sso_subject = ""
            user.save(update_fields=["sso_issuer", "sso_subject"])
            cleared += 1
        self.message_user(request, f"Cleared the single sign-on link of {cleared} people.")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, user: User) -> str:
        """Who may do what, at a glance (the list filter narrows by one role)."""
        return ", ".join(sorted(group.name for group in user.groups.all())) or "—"

    def save_model(self, request, obj, form, change) -> None:
        """Unticking "active" is deactivate_person, as by the command: tokens revoked,
        sessions ended, undecided items handed back."""
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating or _roles_taken_away(form):
            items_to_hand_back(user=obj)  # before this save writes to the audit log
        if deactivating:
            obj.is_active = True
        super().save_model(request, obj, form, change)
        if deactivating:
            deactivate_person(user=obj, actor=request.user)

    def save_related(self, request, form, formsets, change):
        """The role groups ticked are given and taken through set_roles, as everywhere else:
        audited, the Django admin with Administrator, items handed back by someone who may no
        longer decide them. Any other group is saved as Django saves it."""
        if "groups" not in form.fields:  # the add form: no roles yet
            super().save_related(request, form, formsets, change)
            return
        chosen = list(form.cleaned_data["groups"])
        held = [group for group in form.instance.groups.all() if group.name in ROLE_NAMES]
        form.cleaned_data["groups"] = [g for g in chosen if g.name not in ROLE_NAMES] + held
        super().save_related(request, form, formsets, change)
        set_roles(
            user=form.instance,
            roles={Role(group.name) for group in chosen if group.name in ROLE_NAMES},
            source="admin",
            actor=request.user,
        )


def _roles_taken_away(form) -> bool:
    """Whether the person's admin form unticks a role they hold."""
    if "groups" not in form.fields or not form.instance.pk:
        return False
    chosen = {group.name for group in form.cleaned_data["groups"]}
    held = set(form.instance.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    return bool(held - chosen)


class LinkedIdentityForm(forms.ModelForm):
    class Meta:
        model = LinkedIdentity
        fields = ["user", "arn"]

    def clean_arn(self) -> str:
        # The profile page's rule: any text was taken here, and segregation of duties then
        # compared review items against an ARN no identity has.
        return identity_arn(self.cleaned_data["arn"])


@admin.register(LinkedIdentity)
class LinkedIdentityAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Segregation of duties: links are added and removed here by administrators, audited, and
    nobody removes a link of their own."""

    form = LinkedIdentityForm
    list_display = ["arn", "user", "created_at"]
    search_fields = ["arn", "user__email"]
    list_select_related = ["user"]
    fields = ["user", "arn"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.user_id == request.user.pk:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        created = link_identity(user=obj.user, arn=obj.arn, actor=request.user)
        obj.pk = created.pk

    def delete_model(self, request, obj) -> None:
        unlink_identity(identity=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        mine = queryset.filter(user=request.user)
        if mine.exists():
            raise SeparationOfDuties(
                "You cannot remove an IAM identity linked to you (segregation of duties)."
            )
        for identity in queryset.select_related("user"):
            unlink_identity(identity=identity, actor=request.user)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(FilterLookupsOnly, BaseGroupAdmin):
    """Django's, taking only its filters' lookups. Its changes are audited by
    accounts.access_audit, as changes made anywhere else are."""


def administrators_only(request) -> bool:
    """Django admin is for Administrators (role check lives in accounts.permissions)."""
    return request.user.is_staff and can(request.user, Capability.MANAGE_PEOPLE)


admin.site.has_permission = administrators_only
admin.site.site_header = "iamreview administration"
admin.site.site_title = "iamreview admin"


def _filter_lookups_of_third_party_admins() -> None:
    """django-axes' own admin (login attempts; superusers only) took any lookup too: wrapped
    in FilterLookupsOnly, as the project's own admins are. Its admin module is imported before
    this one (INSTALLED_APPS order)."""
    for model, model_admin in list(admin.site._registry.items()):
        if model._meta.app_label != "axes" or isinstance(model_admin, FilterLookupsOnly):
            continue
        original = type(model_admin)
        admin.site.unregister(model)
        admin.site.register(
            model, type(f"Filtered{original.__name__}", (FilterLookupsOnly, original), {})
        )


_filter_lookups_of_third_party_admins()
