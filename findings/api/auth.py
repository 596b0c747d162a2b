"""Who calls the API, and whether they may: a bearer token, its scope, then its owner's
capabilities.

Never a session cookie, so no CSRF token either. accounts/tokens.py checks the token itself
(revoked, expired, deactivated owner, last-use stamp); the capability rules are
accounts/permissions.py's. A token's scope only narrows: an operation takes a token of a scope
other than full only when it says so (`scopes`), and then still needs the owner's capabilities.
"""

from collections.abc import Iterable

from ninja.security import HttpBearer

from accounts.models import ApiToken, User
from accounts.permissions import Capability, can
from accounts.tokens import caller_for_token
from findings.api.errors import ApiError

WWW_AUTHENTICATE = 'Bearer realm="iamreview"'


def unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = f'{WWW_AUTHENTICATE}, error="{error}"' if error else WWW_AUTHENTICATE
    return ApiError(401, {"error": message}, {"WWW-Authenticate": challenge})


class TokenAuth(HttpBearer):
    """The token's owner, who needs every capability in `required` and, when `any_of` is
    given, one of those. The URL-walking tests read them (findings/api/urls.py).

    A full token acts with its owner's capabilities. A token of another scope is refused
    (403) unless that scope is in `scopes`: an operation added without saying so is closed to
    it. The scope is checked first, and never replaces the capabilities."""

    openapi_description = (
        "A personal API token (iamr_...), created on the profile page or with "
        "'manage.py api_token create'. Only its SHA-256 is stored. Its scope is 'full' (its "
        "owner's roles) or 'release-pipeline' (register releases and read cycles, items and "
        "findings; never more than its owner may): each operation's x-token-scopes lists the "
        "scopes it takes."
    )

    def __init__(
        self,
        *required: Capability,
        any_of: tuple[Capability, ...] = (),
        scopes: Iterable[ApiToken.Scope] = (),
    ):
        super().__init__()
        self.required, self.any_of = required, any_of
        self.scopes = frozenset({ApiToken.Scope.FULL, *scopes})

    def __call__(self, request) -> User:
        user = self.identify(request)
        scope = request.token_scope
        if scope not in self.scopes:
            raise ApiError(
                403,
                {
                    "error": f"Requires a token of the {' or '.join(sorted(self.scopes))} "
                    f"scope: this one is {scope} ({ApiToken.Scope(scope).label})."
                },
            )
        for capability in self.required:
            if not can(user=user, capability=capability):
                raise ApiError(403, {"error": f"Requires the {capability.value} permission."})
        if self.any_of and not any(can(user=user, capability=c) for c in self.any_of):
            names = " or ".join(capability.value for capability in self.any_of)
            raise ApiError(403, {"error": f"Requires the {names} permission."})
        return user

    def identify(self, request) -> User:
        """The token's owner, or a 401 telling the client how to authenticate."""
        header = request.headers.get(self.header, "")
        scheme, _, raw = header.partition(" ")
        if not header:
            raise unauthorized("Authenticate with an API token: 'Authorization: Bearer <token>'.")
        if scheme.lower() != self.openapi_scheme or not raw.strip():
            raise unauthorized(
                "Use the Bearer scheme: 'Authorization: Bearer <token>'.", "invalid_request"
            )
        return self.authenticate(request, raw.strip())

    def authenticate(self, request, token: str) -> User:
        caller = caller_for_token(raw=token)
        if caller is None:
            raise unauthorized(
                "The API token is invalid, expired or revoked (the profile page shows when each "
                "of yours expires).",
                "invalid_token",
            )
        request.user, request.token_scope = caller.user, caller.scope
        return caller.user
