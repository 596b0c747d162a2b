"""Creates the role groups with their permissions; used by migrations (idempotent)."""

from accounts.permissions import ADMINISTRATOR_MODEL_PERMISSIONS, ROLE_CAPABILITIES, Role


def sync_role_groups(apps, schema_editor=None) -> None:
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, which migration state lacks.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, verbosity=0, apps=apps)
        finally:
            app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        perms = list(
            Permission.objects.filter(
                content_type__app_label="accounts", codename__in=[c.value for c in capabilities]
            )
        )
        if role is Role.ADMINISTRATOR:
            for app_label, model in ADMINISTRATOR_MODEL_PERMISSIONS:
                perms += list(
                    Permission.objects.filter(
                        content_type__app_label=app_label,
                        content_type__model=model,
                        codename__regex=r"^(add|change|delete|view)_",
                    )
                )
        group.permissions.set(perms)
