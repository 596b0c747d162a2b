from django.db import migrations

# PostgreSQL refuses to change or remove audit entries, whoever asks. (TRUNCATE stays possible:
# test isolation needs it, and whoever may truncate may also drop the trigger.)
CREATE = """
CREATE OR REPLACE FUNCTION iamreview_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_append_only ON findings_auditentry;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON findings_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION iamreview_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_append_only ON findings_auditentry;
DROP FUNCTION IF EXISTS iamreview_audit_append_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, None)


class Migration(migrations.Migration):
    dependencies = [("findings", "0002_findings_and_audit")]
    operations = [migrations.RunPython(create, drop)]
