from django.db import migrations, models


class Migration(migrations.Migration):
    """Every existing token keeps what it had: the full scope (its owner's capabilities)."""

    dependencies = [("accounts", "0012_api_token_expiry")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[
                    ("full", "Full: everything your roles allow"),
                    (
                        "release-pipeline",
                        "Release pipeline: register releases and read cycles, items and findings",
                    ),
                ],
                default="full",
                max_length=32,
            ),
        ),
    ]
