"""Failed-login lockout (django-axes): per (account, address) pair, plus a per-address limit.

Locking an account outright lets anyone lock a colleague out by typing their email; locking an
address outright locks out everyone behind one NAT after five typos. So a pair (this account
from this address) is locked after AXES_FAILURE_LIMIT failures, and an address is locked for
every account only after AXES_ADDRESS_FAILURE_LIMIT failures across accounts (password spraying).
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


def username_of(request, credentials: dict | None = None) -> str | None:
    """The account a login attempt names, as login matches it (email, case-insensitively):
    `Alice@Example.com` and `alice@example.com` count against one lock."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        value = credentials.get(field)
    else:
        value = getattr(request, "data", request.POST).get(field)
    return value.strip().lower() if isinstance(value, str) else value


class PairAndAddressLockout(AxesDatabaseHandler):
    def get_failures(self, request, credentials: dict | None = None) -> int:
        """The pair's failures; the lockout count itself when the address is spraying (axes
        compares this with AXES_FAILURE_LIMIT both before a login and after a failure)."""
        pair = super().get_failures(request, credentials)
        if self.address_failures(request) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            return max(pair, get_failure_limit(request, credentials))
        return pair

    def address_failures(self, request) -> int:
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
