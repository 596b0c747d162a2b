from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import LinkedIdentity, User
from accounts.permissions import Capability, can
from accounts.profile_views import SeparationOfDuties, link_identity, unlink_identity


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "last_login"]
    search_fields = ["email", "full_name"]
    list_filter = ["is_active", "groups"]
    fieldsets = [
        (None, {"fields": ["email", "password", "full_name"]}),
        ("Roles", {"fields": ["is_active", "is_staff", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal = ["groups"]

    def save_related(self, request, form, formsets, change):
        """Role changes made here go to the audit log like any other (and keep is_staff)."""
        from accounts.people import audit_role_change
        from accounts.permissions import Role

        before = set(form.instance.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        after = set(form.instance.groups.values_list("name", flat=True))
        for role in Role:
            if (role.value in after) != (role.value in before):
                audit_role_change(
                    user=form.instance, role=role, granted=role.value in after, actor=request.user
                )


@admin.register(LinkedIdentity)
class LinkedIdentityAdmin(admin.ModelAdmin):
    """Segregation of duties: links are added and removed here by administrators, audited, and
    nobody removes a link of their own."""

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


def administrators_only(request) -> bool:
    """Django admin is for Administrators (role check lives in accounts.permissions)."""
    return request.user.is_staff and can(request.user, Capability.MANAGE_PEOPLE)


admin.site.has_permission = administrators_only
admin.site.site_header = "iamreview administration"
admin.site.site_title = "iamreview admin"
