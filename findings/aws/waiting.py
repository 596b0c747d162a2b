"""Growing, bounded waits for AWS jobs that finish in the background."""

from __future__ import annotations

from collections.abc import Callable


class Backoff:
    """Sleeps 1, 2, 4, 8 ... seconds (capped), until ``max_wait_seconds`` have been slept.

    Time is counted by what was slept, not by the clock, so that tests can pass a fake
    ``sleep`` and still reach the limit.
    """

    def __init__(
        self,
        *,
        sleep: Callable[[float], object],
        max_wait_seconds: float,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> None:
        self._sleep = sleep
        self.max_wait_seconds = max_wait_seconds
        self.waited = 0.0
        self._delay = first_delay
        self._max_delay = max_delay

    @property
    def exhausted(self) -> bool:
        return self.waited >= self.max_wait_seconds

    def wait(self) -> bool:
        """Sleep the next delay; False (without sleeping) once the budget is spent."""
        if self.exhausted:
            return False
        delay = min(self._delay, self.max_wait_seconds - self.waited)
        self._sleep(delay)
        self.waited += delay
        self._delay = min(self._delay * 2, self._max_delay)
        return True
