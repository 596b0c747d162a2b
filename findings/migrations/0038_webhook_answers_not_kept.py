import re

from django.db import migrations

OLD_FORM = re.compile(r"HTTP (\d{3}): ")


def forget_answer_bodies(apps, schema_editor):
    """Deliveries logged before answers were described by their status alone kept the first
    200 characters of the answer ("HTTP 405: <body>"), which may be an internal service's:
    only the status stays."""
    WebhookDelivery = apps.get_model("findings", "WebhookDelivery")
    kept = WebhookDelivery.objects.filter(last_error__regex=r"^HTTP [0-9]{3}: ")
    changed = []
    for delivery in kept.only("pk", "last_error").iterator():
        if match := OLD_FORM.match(delivery.last_error):
            delivery.last_error = f"HTTP {match[1]} (answer not kept)"
            changed.append(delivery)
    WebhookDelivery.objects.bulk_update(changed, ["last_error"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("findings", "0037_webhook_events_as_lists")]

    operations = [migrations.RunPython(forget_answer_bodies, migrations.RunPython.noop)]
