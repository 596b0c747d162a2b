from django.db import migrations

from accounts.roles import sync_role_groups


class Migration(migrations.Migration):
    """Administrators manage linked identities in the Django admin (segregation of duties)."""

    dependencies = [("accounts", "0005_issue14_webhook_permissions")]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
