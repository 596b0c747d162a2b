"""Issue 9: the index on a finding's resource ARN also holds its account and status, so the
inventory lists count each row's open findings from the index alone (one index as before:
inserting a finding maintains no more indexes). The new one is built before the old goes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0025_issue9_inventory_sorts"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                fields=["resource_arn", "account", "status"], name="finding_resource"
            ),
        ),
        migrations.RemoveIndex(
            model_name="finding",
            name="findings_fi_resourc_41d07d_idx",
        ),
    ]
