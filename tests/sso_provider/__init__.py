"""A real OpenID Connect provider (django-oidc-provider) for the single sign-on tests.

It runs as its own Django process on a free loopback port, with its own SQLite database. The
groups each person carries come from a JSON file the test writes (email -> list of groups).
"""
