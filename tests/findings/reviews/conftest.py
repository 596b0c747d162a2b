import pytest
from django.db import connection


@pytest.fixture
def committed_db(transactional_db, postgres):
    """Real commits, seen by each thread's own connection. The flush afterwards is a TRUNCATE,
    which the audit log's trigger may refuse: this connection skips triggers for that flush
    (the next test's connection is back to the default role)."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
