import django.db.models.deletion
from django.db import migrations, models

# Each cycle's item counts, kept by triggers on findings_reviewitem so that no page counts a
# 10,000-item cycle per request. PostgreSQL: one statement-level trigger per event, summing the
# transition tables by cycle (one write per cycle and statement, however many items changed).
# SQLite (the `make run` demo): row-level triggers. A DELETE only updates an existing tally: when
# a cycle is deleted its tally may already be gone.

# Per item: (total, decided, awaiting, unassigned) as integers.
PG_COUNTS = """
    SELECT cycle_id, {sign} AS total,
           {sign} * (is_decided)::int AS decided,
           {sign} * (NOT is_decided AND no_response_at IS NULL)::int AS awaiting,
           {sign} * (NOT is_decided AND assignee_id IS NULL)::int AS unassigned
    FROM {table}
"""
PG_APPLY = """
    WITH delta AS (
        SELECT cycle_id, SUM(total) AS total, SUM(decided) AS decided,
               SUM(awaiting) AS awaiting, SUM(unassigned) AS unassigned
        FROM ({rows}) AS changed
        GROUP BY cycle_id
    )
    {write};
"""
PG_UPSERT = """
    INSERT INTO findings_cycletally AS t (cycle_id, total, decided, awaiting, unassigned)
    SELECT cycle_id, total, decided, awaiting, unassigned FROM delta
    WHERE (total, decided, awaiting, unassigned) <> (0, 0, 0, 0)
    ON CONFLICT (cycle_id) DO UPDATE SET
        total = t.total + EXCLUDED.total,
        decided = t.decided + EXCLUDED.decided,
        awaiting = t.awaiting + EXCLUDED.awaiting,
        unassigned = t.unassigned + EXCLUDED.unassigned
"""
PG_UPDATE = """
    UPDATE findings_cycletally AS t SET
        total = t.total + delta.total,
        decided = t.decided + delta.decided,
        awaiting = t.awaiting + delta.awaiting,
        unassigned = t.unassigned + delta.unassigned
    FROM delta
    WHERE t.cycle_id = delta.cycle_id
      AND (delta.total, delta.decided, delta.awaiting, delta.unassigned) <> (0, 0, 0, 0)
"""


def pg_function(name: str, rows: str, write: str) -> str:
    body = PG_APPLY.format(rows=rows, write=write)
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$\n"
        f"BEGIN\n{body}\n    RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\n"
    )


PG_CREATE = (
    pg_function(
        "findings_tally_insert",
        PG_COUNTS.format(sign=1, table="new_items"),
        PG_UPSERT,
    )
    + pg_function(
        "findings_tally_update",
        PG_COUNTS.format(sign=1, table="new_items")
        + " UNION ALL "
        + PG_COUNTS.format(sign=-1, table="old_items"),
        PG_UPSERT,
    )
    + pg_function(
        "findings_tally_delete",
        PG_COUNTS.format(sign=-1, table="old_items"),
        PG_UPDATE,
    )
    + """
CREATE TRIGGER tally_insert AFTER INSERT ON findings_reviewitem
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION findings_tally_insert();
CREATE TRIGGER tally_update AFTER UPDATE ON findings_reviewitem
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION findings_tally_update();
CREATE TRIGGER tally_delete AFTER DELETE ON findings_reviewitem
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION findings_tally_delete();
"""
)
PG_DROP = """
DROP TRIGGER IF EXISTS tally_insert ON findings_reviewitem;
DROP TRIGGER IF EXISTS tally_update ON findings_reviewitem;
DROP TRIGGER IF EXISTS tally_delete ON findings_reviewitem;
DROP FUNCTION IF EXISTS findings_tally_insert();
DROP FUNCTION IF EXISTS findings_tally_update();
DROP FUNCTION IF EXISTS findings_tally_delete();
"""


def sqlite_values(row: str, sign: int) -> str:
    return (
        f"{row}.cycle_id, {sign}, {sign} * ({row}.is_decided = 1), "
        f"{sign} * ({row}.is_decided = 0 AND {row}.no_response_at IS NULL), "
        f"{sign} * ({row}.is_decided = 0 AND {row}.assignee_id IS NULL)"
    )


SQLITE_UPSERT = """
    INSERT INTO findings_cycletally (cycle_id, total, decided, awaiting, unassigned)
    VALUES ({values})
    ON CONFLICT (cycle_id) DO UPDATE SET
        total = total + excluded.total,
        decided = decided + excluded.decided,
        awaiting = awaiting + excluded.awaiting,
        unassigned = unassigned + excluded.unassigned;
"""
SQLITE_SUBTRACT = """
    UPDATE findings_cycletally SET
        total = total - 1,
        decided = decided - (OLD.is_decided = 1),
        awaiting = awaiting - (OLD.is_decided = 0 AND OLD.no_response_at IS NULL),
        unassigned = unassigned - (OLD.is_decided = 0 AND OLD.assignee_id IS NULL)
    WHERE cycle_id = OLD.cycle_id;
"""
SQLITE_CREATE = [
    "CREATE TRIGGER tally_insert AFTER INSERT ON findings_reviewitem BEGIN"
    + SQLITE_UPSERT.format(values=sqlite_values("NEW", 1))
    + "END;",
    "CREATE TRIGGER tally_update AFTER UPDATE ON findings_reviewitem BEGIN"
    + SQLITE_SUBTRACT
    + SQLITE_UPSERT.format(values=sqlite_values("NEW", 1))
    + "END;",
    "CREATE TRIGGER tally_delete AFTER DELETE ON findings_reviewitem BEGIN"
    + SQLITE_SUBTRACT
    + "END;",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS tally_insert;",
    "DROP TRIGGER IF EXISTS tally_update;",
    "DROP TRIGGER IF EXISTS tally_delete;",
]

FILL = """
INSERT INTO findings_cycletally (cycle_id, total, decided, awaiting, unassigned)
SELECT cycle_id, COUNT(*),
       SUM(CASE WHEN is_decided THEN 1 ELSE 0 END),
       SUM(CASE WHEN NOT is_decided AND no_response_at IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN NOT is_decided AND assignee_id IS NULL THEN 1 ELSE 0 END)
FROM findings_reviewitem GROUP BY cycle_id
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_CREATE, None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement, None)
    schema_editor.execute(FILL, None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP, None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0019_issue9_inventory_list_order"),
    ]

    operations = [
        migrations.CreateModel(
            name="CycleTally",
            fields=[
                (
                    "cycle",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="tally",
                        serialize=False,
                        to="findings.reviewcycle",
                    ),
                ),
                ("total", models.IntegerField(default=0)),
                ("decided", models.IntegerField(default=0)),
                ("awaiting", models.IntegerField(default=0)),
                ("unassigned", models.IntegerField(default=0)),
            ],
            options={"db_table": "findings_cycletally"},
        ),
        migrations.RunPython(create, drop),
    ]
