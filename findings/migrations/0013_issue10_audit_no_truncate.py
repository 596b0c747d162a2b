from django.db import migrations

# PostgreSQL refuses TRUNCATE of the audit log too (directly, or by a CASCADE from the users
# table). The one exception is a session that sets iamreview.test_flush = 'on': the test runner
# sets it on its own connections because pytest-django empties tables with TRUNCATE between
# transactional tests (tests/conftest.py). The application never sets it; anyone who can set it
# by hand can also drop the trigger, which is what the keyed chain and checkpoints are for.
CREATE = """
CREATE OR REPLACE FUNCTION iamreview_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('iamreview.test_flush', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: TRUNCATE is not allowed';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_no_truncate ON findings_auditentry;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON findings_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION iamreview_audit_no_truncate();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_no_truncate ON findings_auditentry;
DROP FUNCTION IF EXISTS iamreview_audit_no_truncate();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, None)


class Migration(migrations.Migration):
    dependencies = [("findings", "0012_issue10_audit_key_and_checkpoints")]
    operations = [migrations.RunPython(create, drop)]
