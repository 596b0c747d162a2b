"""Context for log lines: inside a collection run, every line carries its run id, account and
source (the handler's filter adds them), in the plain format and in JSON (LOG_FORMAT=json)."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.exceptions import PermissionDenied

_context: ContextVar[dict | None] = ContextVar("iamreview_log_context", default=None)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the current context's fields to each record, and `context` as text for plain logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get() or {}
        for name, value in fields.items():
            setattr(record, name, value)
        record.context = " ".join(f"{k}={v}" for k, v in fields.items())
        return True


class RefusalsWithoutTraceback(logging.Filter):
    """A 403 is the app refusing, as designed: one line, not a traceback that buries the 500s.
    (Django logs PermissionDenied at WARNING with the exception attached.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, PermissionDenied):  # its subclasses too (separation of duties)
            record.exc_info = None
            record.exc_text = None
        return True
