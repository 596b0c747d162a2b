from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import User
from accounts.permissions import Capability, can


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


def administrators_only(request) -> bool:
    """Django admin is for Administrators (role check lives in accounts.permissions)."""
    return request.user.is_staff and can(request.user, Capability.MANAGE_PEOPLE)


admin.site.has_permission = administrators_only
admin.site.site_header = "iamreview administration"
admin.site.site_title = "iamreview admin"
