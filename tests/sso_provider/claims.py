import json

from django.conf import settings
from oidc_provider.lib.claims import ScopeClaims


def groups_of(email: str) -> list[str]:
    with open(settings.PROVIDER_GROUPS_FILE) as handle:
        return json.load(handle).get(email, [])


def userinfo(claims, user):
    claims["email"] = user.email
    claims["email_verified"] = True
    claims["name"] = user.get_full_name() or user.username
    return claims


class GroupsClaims(ScopeClaims):
    info_groups = ("Groups", "The groups you belong to.")

    def scope_groups(self):
        return {"groups": groups_of(self.user.email)}
