from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone


def expire_in_ninety_days(apps, schema_editor):
    """Tokens made before tokens expired work 90 days more: a pipeline using one is not
    stopped by the upgrade, and its owner has time to make a new one."""
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.filter(expires_at=None).update(expires_at=timezone.now() + timedelta(days=90))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0011_sso_subject")]

    operations = [
        migrations.AddField(
            model_name="apitoken", name="expires_at", field=models.DateTimeField(null=True)
        ),
        migrations.RunPython(expire_in_ninety_days, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken", name="expires_at", field=models.DateTimeField()
        ),
    ]
