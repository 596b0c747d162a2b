"""Log output: one handler for Django's loggers, refusals without their tracebacks."""

import logging
import sys

from accounts.profile_views import SeparationOfDuties
from iamreview.log_context import RefusalsWithoutTraceback


def test_djangos_loggers_go_through_the_one_filtered_console_handler():
    # Django's default adds its own console under DEBUG (`make run`), unfiltered: every 403
    # was printed a second time with its traceback.
    django_logger = logging.getLogger("django")
    # (pytest adds capture handlers of its own beside it.)
    [handler] = [h for h in django_logger.handlers if type(h) is logging.StreamHandler]
    assert not django_logger.propagate
    assert any(isinstance(f, RefusalsWithoutTraceback) for f in handler.filters)
    assert handler in logging.getLogger().handlers


def test_a_refusal_of_a_subclass_loses_its_traceback_too():
    try:
        raise SeparationOfDuties("You decided an item of this cycle")
    except SeparationOfDuties:
        record = logging.LogRecord("django.request", 30, "", 0, "x", (), sys.exc_info())
    assert RefusalsWithoutTraceback().filter(record) and record.exc_info is None
