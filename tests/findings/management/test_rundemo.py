"""rundemo's terminal: the simulator's expected failures in one line each, not tracebacks."""

import logging

from findings.management.commands.rundemo import OneLineSimulatorErrors


def test_a_simulator_traceback_is_logged_as_one_line():
    traceback = (
        'Error on request:\nTraceback (most recent call last):\n  File "x.py", line 1\n'
        "NotImplementedError: The GenerateServiceLastAccessedDetails action has not been "
        "implemented\n"
    )
    record = logging.LogRecord("werkzeug", logging.ERROR, "", 0, traceback, (), None)
    assert OneLineSimulatorErrors().filter(record)
    assert record.getMessage() == (
        "Simulated AWS (moto) could not answer a request (expected): NotImplementedError: The "
        "GenerateServiceLastAccessedDetails action has not been implemented"
    )
    assert "\n" not in record.getMessage()


def test_other_messages_pass_unchanged():
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, "GET / 200", (), None)
    assert OneLineSimulatorErrors().filter(record) and record.getMessage() == "GET / 200"
