from django.db import migrations

# PostgreSQL refuses to rewrite what an auditor relies on, whoever asks:
# - a decision: append-only (a new one supersedes it). The one column written later is
#   expiry_handled_at (services.expire_risk_acceptances); any other change, and DELETE, is
#   refused. Columns added later are protected unless named here.
# - a signed-off review cycle: nothing the application writes changes it after sign-off
#   (releases and returning risks change open cycles only), so its whole row is refused to
#   UPDATE and DELETE; signing off (an UPDATE of an open cycle) is not affected.
# Row triggers do not fire on TRUNCATE, so pytest-django can still empty the tables between
# transactional tests without any setting that would also let someone else through. (The
# tables' owner may still drop a trigger or TRUNCATE: these stop edits with plain SQL, the
# audit trail and the evidence pack's recomputed hashes show the rest.)
CREATE = """
CREATE OR REPLACE FUNCTION iamreview_decision_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'decisions are append-only: DELETE of decision % is not allowed', OLD.id;
    END IF;
    IF to_jsonb(NEW) - 'expiry_handled_at' IS DISTINCT FROM to_jsonb(OLD) - 'expiry_handled_at'
    THEN
        RAISE EXCEPTION 'decisions are append-only: decision % may change expiry_handled_at only',
            OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS decision_append_only ON findings_decision;
CREATE TRIGGER decision_append_only BEFORE UPDATE OR DELETE ON findings_decision
    FOR EACH ROW EXECUTE FUNCTION iamreview_decision_append_only();

CREATE OR REPLACE FUNCTION iamreview_signed_cycle_locked() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'signed_off' THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'review cycle % is signed off: DELETE is not allowed', OLD.id;
        END IF;
        IF to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
            RAISE EXCEPTION 'review cycle % is signed off: its row cannot change', OLD.id;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS signed_cycle_locked ON findings_reviewcycle;
CREATE TRIGGER signed_cycle_locked BEFORE UPDATE OR DELETE ON findings_reviewcycle
    FOR EACH ROW EXECUTE FUNCTION iamreview_signed_cycle_locked();
"""
DROP = """
DROP TRIGGER IF EXISTS decision_append_only ON findings_decision;
DROP FUNCTION IF EXISTS iamreview_decision_append_only();
DROP TRIGGER IF EXISTS signed_cycle_locked ON findings_reviewcycle;
DROP FUNCTION IF EXISTS iamreview_signed_cycle_locked();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, None)


class Migration(migrations.Migration):
    dependencies = [("findings", "0029_signed_summary_document")]
    operations = [migrations.RunPython(create, drop)]
