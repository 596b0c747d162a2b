"""Django's database sessions, each read as one plain statement, and expired ones cleared.

Every signed-in request reads its session; through the ORM (a `get` on the session model)
building that query cost more than running it. The same row, the same rules (unexpired, by key),
the same table and writes: only the read differs. SESSION_ENGINE names this module.

Django removes an expired session only when `clearsessions` runs: the beat runs it daily
(`iamreview.clear_expired_sessions`), a batch at a time.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

# Sessions deleted per statement: short deletes, however many expired since the last run.
CLEAR_BATCH = 1000


class SessionStore(db.SessionStore):
    @classmethod
    def clear_expired(cls) -> int:
        """Delete every session expired by now, `CLEAR_BATCH` at a time (by the index on the
        expiry date), and say how many went; `clearsessions` calls it too."""
        model = cls.get_model_class()
        now = timezone.now()
        expired = model.objects.filter(expire_date__lt=now).order_by("expire_date")
        cleared = 0
        while keys := list(expired.values_list("pk", flat=True)[:CLEAR_BATCH]):
            # Expired still: a session is never renewed, but a key can be reused.
            cleared += model.objects.filter(pk__in=keys, expire_date__lt=now).delete()[0]
        return cleared

    def _get_session_from_db(self):
        model = self.model
        using = router.db_for_read(model)
        connection = connections[using]
        quote = connection.ops.quote_name
        key, data, expires = (
            quote(model._meta.get_field(name).column)
            for name in ("session_key", "session_data", "expire_date")
        )
        sql = (
            f"SELECT {data}, {expires} FROM {quote(model._meta.db_table)}"  # noqa: S608
            f" WHERE {key} = %s AND {expires} > %s"
        )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        session_data, expire_date = row
        return model(
            session_key=self.session_key, session_data=session_data, expire_date=expire_date
        )
