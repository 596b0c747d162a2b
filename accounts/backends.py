"""Authentication backends: Django's, with a person's permissions read in one query.

Django's ModelBackend reads a user's own permissions and their groups' permissions in two
queries on every request that checks one; every page does (the navigation shows what the person
may do). One query over both, cached on the user object for the request as Django does.
"""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class OneQueryPermissions:
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                permissions = permissions.filter(
                    Q(user=user_obj) | Q(group__user=user_obj)
                ).distinct()
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                )
            }
        return user_obj._perm_cache


class PasswordBackend(OneQueryPermissions, ModelBackend):
    """Local accounts: email and password (Django's ModelBackend)."""
