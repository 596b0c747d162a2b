from django.db import migrations

KNOWN = ("finding.critical", "cycle.ready_to_sign", "cycle.overdue", "decision.remediate")


def events_as_lists(apps, schema_editor):
    """The admin once stored whatever JSON was typed as a webhook's events. A string matched
    by substring (`"cycle.overdue"` heard that event): it becomes the list of the events it
    names. Anything else that is no list (a number, an object) heard nothing, or stopped every
    webhook: such a webhook is switched off, to be given its events again in the admin."""
    Webhook = apps.get_model("findings", "Webhook")
    for webhook in Webhook.objects.all():
        if isinstance(webhook.events, list):
            continue
        if isinstance(webhook.events, str):
            named = [event for event in KNOWN if event in webhook.events]
            webhook.events = named
            webhook.is_active = webhook.is_active and bool(named)
        else:
            webhook.events, webhook.is_active = [], False
        webhook.save(update_fields=["events", "is_active"])


class Migration(migrations.Migration):
    dependencies = [("findings", "0036_ascii_account_ids")]

    operations = [migrations.RunPython(events_as_lists, migrations.RunPython.noop)]
