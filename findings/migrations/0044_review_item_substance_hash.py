import hashlib
import json

from django.db import migrations, models

# findings.reviews.substance as this migration wrote it (a migration keeps its own copy).
USAGE_FACTS = frozenset(
    {
        "analyzed_at",
        "password_last_used",
        "password_last_used_reason",
        "access_key_1_last_used_date",
        "access_key_1_last_used_date_reason",
        "access_key_2_last_used_date",
        "access_key_2_last_used_date_reason",
        "last_used",
        "last_used_region",
        "last_used_note",
    }
)


def substance_hash(evidence: dict) -> str:
    facts = evidence.get("facts") or {}
    if not facts.get("root"):
        facts = {k: v for k, v in facts.items() if k not in USAGE_FACTS}
    substance = {
        "facts": facts,
        "unused_services": sorted(s["service"] for s in evidence.get("unused_services", [])),
        "findings": sorted(
            (f["check"], f["resource_key"], f["severity"]) for f in evidence.get("findings", [])
        ),
        "policies": evidence.get("policies"),
        "signing_certificates": sorted(
            (c["name"], c["uploaded"]) for c in evidence.get("signing_certificates", [])
        ),
    }
    encoded = json.dumps(substance, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def hash_open_items(apps, schema_editor):
    """The items of cycles still in review get the hash their change mark compares. Signed-off
    cycles' items stay as signed (PostgreSQL refuses to change them, 0031), their marks too.
    The marks themselves are brought up to date by each account's next detection, or at once
    by `python manage.py refresh_freshness`."""
    ReviewItem = apps.get_model("findings", "ReviewItem")
    items = (
        ReviewItem.objects.filter(cycle__state="open").only("pk", "frozen_evidence").order_by("pk")
    )
    batch = []
    for item in items.iterator(chunk_size=500):
        item.substance_hash = substance_hash(item.frozen_evidence or {})
        batch.append(item)
        if len(batch) == 500:
            ReviewItem.objects.bulk_update(batch, ["substance_hash"])
            batch = []
    ReviewItem.objects.bulk_update(batch, ["substance_hash"])


class Migration(migrations.Migration):
    dependencies = [("findings", "0043_decision_decider_teams")]

    operations = [
        migrations.AddField(
            model_name="reviewitem",
            name="substance_hash",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="fresh_changes",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(hash_open_items, migrations.RunPython.noop),
    ]
