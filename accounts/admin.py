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


def administrators_only(request) -> bool:
    """Django admin is for Administrators (role check lives in accounts.permissions)."""
    return request.user.is_staff and can(request.user, Capability.MANAGE_PEOPLE)


admin.site.has_permission = administrators_only
admin.site.site_header = "iamreview administration"
admin.site.site_title = "iamreview admin"
