"""Who calls the API, and whether they may: a bearer token, then its owner's capabilities.

Never a session cookie, so no CSRF token either. accounts/tokens.py checks the token itself
(revoked, expired, deactivated owner, last-use stamp); the capability rules are
accounts/permissions.py's.
"""

from ninja.security import HttpBearer

from accounts.models import User
from accounts.permissions import Capability, can
from accounts.tokens import user_for_token
from findings.api.errors import ApiError

WWW_AUTHENTICATE = 'Bearer realm="iamreview"'


def unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = f'{WWW_AUTHENTICATE}, error="{error}"' if error else WWW_AUTHENTICATE
    return ApiError(401, {"error": message}, {"WWW-Authenticate": challenge})


class TokenAuth(HttpBearer):
    """The token's owner, who needs every capability in `required` and, when `any_of` is
    given, one of those. The URL-walking test reads both (findings/api/urls.py)."""

    openapi_description = (
        "A personal API token (iamr_...), created with 'manage.py api_token'. "
        "Only its SHA-256 is stored."
    )

    def __init__(self, *required: Capability, any_of: tuple[Capability, ...] = ()):
        super().__init__()
        self.required, self.any_of = required, any_of

    def __call__(self, request) -> User:
        user = self.identify(request)
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
        user = user_for_token(raw=token)
        if user is None:
            raise unauthorized(
                "The API token is invalid, expired or revoked (the profile page shows when each "
                "of yours expires).",
                "invalid_token",
            )
        request.user = user
        return user
