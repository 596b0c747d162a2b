import django.db.models.deletion
from django.db import migrations, models

import findings.models.review

# PostgreSQL refuses to change the scope of a signed-off review cycle, whoever asks (0030 does
# the same for the cycle's own row and its decisions, 0031 for its items): the accounts it
# covered are part of what was signed, even one none of its items is of.
# - DELETE of a scope row of a signed-off cycle is refused: deleting its AWS account (which
#   Django cascades to the row), or the cycle (refused already by 0030).
# - INSERT of a scope row into a signed-off cycle, and UPDATE of one out of or into such a
#   cycle, are refused. The application writes scope rows when a cycle opens and when a
#   release cycle's new items join it, both while it is open.
# Row triggers do not fire on TRUNCATE (pytest-django's flush), as in 0030.
#
# The scope was an auto-created many-to-many table; it is now declared
# (models.review.ReviewCycleScope) on the same table, so that deleting such an account is
# refused as a protected deletion (cascade_unless_signed_off), which the admin explains,
# instead of failing in the database. Only Django's model state changes: the table, its
# columns, its unique (reviewcycle_id, awsaccount_id) constraint and its indexes are the ones
# 0004 created.
CREATE = """
CREATE OR REPLACE FUNCTION iamreview_signed_cycle_scope_locked() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND EXISTS (
        SELECT 1 FROM findings_reviewcycle WHERE id = OLD.reviewcycle_id AND state = 'signed_off'
    ) THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION
                'review cycle % is signed off: DELETE of its scope account % is not allowed',
                OLD.reviewcycle_id, OLD.awsaccount_id;
        END IF;
        IF to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
            RAISE EXCEPTION 'review cycle % is signed off: its scope cannot change',
                OLD.reviewcycle_id;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.reviewcycle_id IS DISTINCT FROM OLD.reviewcycle_id) AND EXISTS (
        SELECT 1 FROM findings_reviewcycle WHERE id = NEW.reviewcycle_id AND state = 'signed_off'
    ) THEN
        RAISE EXCEPTION 'review cycle % is signed off: no account can be added to its scope',
            NEW.reviewcycle_id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS signed_cycle_scope_locked ON findings_reviewcycle_scope_accounts;
CREATE TRIGGER signed_cycle_scope_locked
    BEFORE INSERT OR UPDATE OR DELETE ON findings_reviewcycle_scope_accounts
    FOR EACH ROW EXECUTE FUNCTION iamreview_signed_cycle_scope_locked();
"""
DROP = """
DROP TRIGGER IF EXISTS signed_cycle_scope_locked ON findings_reviewcycle_scope_accounts;
DROP FUNCTION IF EXISTS iamreview_signed_cycle_scope_locked();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, None)


class Migration(migrations.Migration):
    dependencies = [("findings", "0033_review_item_assignee_kept_when_signed")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReviewCycleScope",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "awsaccount",
                            models.ForeignKey(
                                on_delete=findings.models.review.cascade_unless_signed_off,
                                related_name="+",
                                to="findings.awsaccount",
                            ),
                        ),
                        (
                            "reviewcycle",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="findings.reviewcycle",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "review cycle scope account",
                        "db_table": "findings_reviewcycle_scope_accounts",
                        "unique_together": {("reviewcycle", "awsaccount")},
                    },
                ),
                migrations.AlterField(
                    model_name="reviewcycle",
                    name="scope_accounts",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="+",
                        through="findings.ReviewCycleScope",
                        to="findings.awsaccount",
                    ),
                ),
            ],
        ),
        migrations.RunPython(create, drop),
    ]
