"""Prepares the provider's database: an RSA key, one confidential client, people.

python -m tests.sso_provider.setup REDIRECT_URI CLIENT_ID CLIENT_SECRET EMAIL:PASSWORD ...
"""

import sys

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oidc_provider.models import Client, ResponseType  # noqa: E402


def main(redirect_uri: str, client_id: str, secret: str, *people: str) -> None:
    call_command("migrate", verbosity=0)
    call_command("creatersakey")
    client = Client.objects.create(
        name="iamreview",
        client_type="confidential",
        client_id=client_id,
        client_secret=secret,
        require_consent=False,
        reuse_consent=True,
        jwt_alg="RS256",
    )
    client.redirect_uris = [redirect_uri]
    client.scope = ["openid", "email", "profile", "groups"]
    client.save()
    client.response_types.set(ResponseType.objects.filter(value="code"))
    for person in people:
        email, _, password = person.partition(":")
        User.objects.create_user(username=email.split("@")[0], email=email, password=password)


if __name__ == "__main__":
    main(*sys.argv[1:])
