from django.db import migrations

# PostgreSQL refuses to rewrite the items of a signed-off review cycle, whoever asks (0030 does
# the same for the cycle's own row and its decisions):
# - UPDATE of an item whose cycle is signed off, and of an item into such a cycle, is refused,
#   except the remediation follow-up: while an item waits for its remediation ('pending'),
#   services.verify_remediations may record the latest plan check or the verification
#   (remediation, verified_at, verified_by_run_id, plan_check), and nothing else.
# - DELETE of such an item is refused, whatever asks for it: deleting its AWS account or the
#   cycle (both refused already: items PROTECT their account, and 0030 locks the cycle), or a
#   person it is assigned to (SET_NULL on assignee: refused, as deleting a person who decided
#   is, so that the signed record keeps who was asked).
# - INSERT of an item into a signed-off cycle is refused (returning risks join open cycles).
# Everything else the application writes to items (decisions, assignment, freshness, "no
# response" at the due date) writes open cycles only. Columns added later are protected unless
# named here. Row triggers do not fire on TRUNCATE (pytest-django's flush), as in 0030.
CREATE = """
CREATE OR REPLACE FUNCTION iamreview_signed_cycle_items_locked() RETURNS trigger AS $$
DECLARE
    follow_up CONSTANT text[] := ARRAY[
        'remediation', 'verified_at', 'verified_by_run_id', 'plan_check'
    ];
BEGIN
    IF TG_OP <> 'INSERT' AND EXISTS (
        SELECT 1 FROM findings_reviewcycle WHERE id = OLD.cycle_id AND state = 'signed_off'
    ) THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'review cycle % is signed off: DELETE of its item % is not allowed',
                OLD.cycle_id, OLD.id;
        END IF;
        IF to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) AND NOT (
            OLD.remediation = 'pending'
            AND NEW.remediation IN ('pending', 'verified')
            AND to_jsonb(NEW) - follow_up IS NOT DISTINCT FROM to_jsonb(OLD) - follow_up
        ) THEN
            RAISE EXCEPTION 'review cycle % is signed off: its item % cannot change',
                OLD.cycle_id, OLD.id;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.cycle_id IS DISTINCT FROM OLD.cycle_id) AND EXISTS (
        SELECT 1 FROM findings_reviewcycle WHERE id = NEW.cycle_id AND state = 'signed_off'
    ) THEN
        RAISE EXCEPTION 'review cycle % is signed off: no item can be added to it',
            NEW.cycle_id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS signed_cycle_items_locked ON findings_reviewitem;
CREATE TRIGGER signed_cycle_items_locked BEFORE INSERT OR UPDATE OR DELETE ON findings_reviewitem
    FOR EACH ROW EXECUTE FUNCTION iamreview_signed_cycle_items_locked();
"""
DROP = """
DROP TRIGGER IF EXISTS signed_cycle_items_locked ON findings_reviewitem;
DROP FUNCTION IF EXISTS iamreview_signed_cycle_items_locked();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, None)


class Migration(migrations.Migration):
    dependencies = [("findings", "0030_decisions_and_signed_cycles_immutable")]
    operations = [migrations.RunPython(create, drop)]
