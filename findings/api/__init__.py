"""The JSON API on django-ninja: bearer tokens, typed schemas, a generated OpenAPI document.
An interface on top: may import any domain package; nothing imports it but the URL conf."""
