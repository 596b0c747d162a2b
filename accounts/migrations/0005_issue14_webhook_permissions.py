from django.db import migrations

from accounts.roles import sync_role_groups


class Migration(migrations.Migration):
    """Administrators manage webhooks and read their delivery log in the Django admin."""

    dependencies = [
        ("accounts", "0004_digest_preferences"),
        ("findings", "0009_issue14_webhooks"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
