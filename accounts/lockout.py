"""Failed-login lockout (django-axes): per (account, address) pair, plus a per-address limit.

Locking an account outright lets anyone lock a colleague out by typing their email; locking an
address outright locks out everyone behind one NAT after five typos. So a pair (this account
from this address) is locked after AXES_FAILURE_LIMIT failures, and an address is locked for
every account only after AXES_ADDRESS_FAILURE_LIMIT failures across accounts (password spraying).
"""

import ipaddress

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
        # An attempt naming no account (a single sign-on callback: the provider, not a form,
        # says who) has no pair of its own: its failures count against the address only.
        # Counted as one pair (no account, this address), five refused callbacks locked single
        # sign-on for everyone behind that address.
        named = username_of(request, credentials) is not None
        pair = super().get_failures(request, credentials) if named else 0
        if self.address_failures(request) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            return max(pair, get_failure_limit(request, credentials))
        return pair

    def address_failures(self, request) -> int:
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def client_address(request) -> str | None:
    """The address a login attempt comes from, for the lockout.

    Behind a proxy (BEHIND_PROXY) every connection is the proxy's: all logins shared one
    address, so a stranger's 50 failures locked everyone out. The proxy appends the address it
    was connected from to X-Forwarded-For; entries left of that are whatever the client sent,
    so the entry TRUSTED_PROXY_HOPS from the right is the one to believe. Anything that is not
    an address falls back to the connection's."""
    connection = request.META.get("REMOTE_ADDR")
    if not settings.BEHIND_PROXY:
        return connection
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = settings.TRUSTED_PROXY_HOPS
    if hops < 1 or len(forwarded) < hops:
        return connection
    try:
        return str(ipaddress.ip_address(_without_port(forwarded[-hops])))
    except ValueError:
        return connection


def _without_port(entry: str) -> str:
    """Some load balancers forward `203.0.113.9:5678` or `[2001:db8::1]:443`: the address
    without its port (the fallback to the proxy's own address would share one lock again)."""
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    host, colon, port = entry.rpartition(":")
    if colon and "." in host and port.isdigit():  # IPv4 with a port; IPv6 has more colons
        return host
    return entry
