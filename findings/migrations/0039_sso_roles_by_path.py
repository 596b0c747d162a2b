from django.db import migrations

IDENTITY_CENTER_PATH = "/aws-reserved/sso.amazonaws.com/"


def judge_sso_roles_by_path(apps, schema_editor):
    """Older versions took a role named AWSReservedSSO_... as IAM Identity Center's wherever it
    lived: a customer's own role so named was judged by the low-severity Identity Center check
    and refused IAM downloads. Only Identity Center's path makes one; the next collection would
    correct the flag too, but pages read it until then."""
    IamRole = apps.get_model("findings", "IamRole")
    IamRole.objects.filter(is_sso=True).exclude(path__startswith=IDENTITY_CENTER_PATH).update(
        is_sso=False
    )


class Migration(migrations.Migration):
    dependencies = [("findings", "0038_webhook_answers_not_kept")]

    operations = [migrations.RunPython(judge_sso_roles_by_path, migrations.RunPython.noop)]
