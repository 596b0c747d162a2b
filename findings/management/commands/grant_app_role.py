"""Give the role the application connects as the data privileges it needs, and nothing more.

The audit log, decisions and signed-off cycles are protected by PostgreSQL triggers (migrations
0003, 0013, 0030, 0031). Whoever owns the tables can drop or disable those triggers, and may
TRUNCATE: an application that connects as the owner (or a superuser) protects nothing from its
own credentials. Run migrations as the owner, then this command, and let web, worker and beat
connect as the role it grants: it may read and write rows, never change the schema.
"""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg2 import sql
from psycopg2.extensions import encrypt_password

# Row privileges only: no TRUNCATE, REFERENCES or TRIGGER (nor, not being the owner, ALTER or
# DROP). Sequences: what an INSERT's default and Django's sequence reset need.
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT, UPDATE"


class Command(BaseCommand):
    help = (
        "Create (if missing) the PostgreSQL role the application connects as, and grant it row "
        "privileges on every table of the schema, and nothing that could change the schema or "
        "drop the audit triggers. Run as the tables' owner, after migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="The role web, worker and beat connect as.")
        parser.add_argument(
            "--password-env",
            default="",
            help="The environment variable holding the role's password (set on every run).",
        )
        parser.add_argument("--schema", default="public")

    def handle(self, *args, role: str, password_env: str, schema: str, **options):
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role is for PostgreSQL (SQLite has no roles).")
        if role == connection.settings_dict["USER"]:
            raise CommandError(
                f"{role!r} is the role this command connects as (the owner): grant another one."
            )
        password = os.environ.get(password_env) if password_env else None
        if password_env and not password:
            raise CommandError(f"{password_env} is not set or empty.")
        who, where = sql.Identifier(role), sql.Identifier(schema)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
            found = cursor.fetchone()
            if found is None:
                cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(who))
            elif found[0]:
                raise CommandError(f"{role!r} is a superuser: it could drop the triggers anyway.")
            cursor.execute(
                "SELECT pg_has_role(%s, tableowner, 'USAGE') FROM pg_tables "
                "WHERE schemaname = %s AND tablename = 'findings_auditentry'",
                [role, schema],
            )
            if any(member for (member,) in cursor.fetchall()):
                raise CommandError(
                    f"{role!r} is a member of the tables' owner: it could drop the triggers."
                )
            if password:
                # Hashed here: the statement, which the server may log, never holds the
                # password itself.
                hashed = encrypt_password(password, role, connection.connection, "scram-sha-256")
                cursor.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(who), [hashed])
            database = sql.Identifier(connection.settings_dict["NAME"])
            statements = [
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, who),
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(where, who),
                sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(where, who),
                sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(where, who),
                sql.SQL(f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {{}} TO {{}}").format(
                    where, who
                ),
                sql.SQL(
                    f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {{}} TO {{}}"
                ).format(where, who),
                # Which migrations ran is the owner's to write: a row slipped in would make a
                # later migration (a trigger, say) be skipped.
                sql.SQL(
                    "REVOKE INSERT, UPDATE, DELETE ON TABLE {}.django_migrations FROM {}"
                ).format(where, who),
                # Tables a later migration creates: granted too, should this command not run.
                sql.SQL(
                    f"ALTER DEFAULT PRIVILEGES IN SCHEMA {{}} GRANT {TABLE_PRIVILEGES} ON TABLES "
                    "TO {}"
                ).format(where, who),
                sql.SQL(
                    f"ALTER DEFAULT PRIVILEGES IN SCHEMA {{}} GRANT {SEQUENCE_PRIVILEGES} ON "
                    "SEQUENCES TO {}"
                ).format(where, who),
            ]
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(
            f"{role}: {TABLE_PRIVILEGES} on every table of {schema}; no TRUNCATE, no schema "
            "changes. Connect web, worker and beat as this role."
        )
