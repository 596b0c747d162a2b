"""Helpers for table rows written in Python rather than by the template engine (the review
queue's and the inventory's rows): escaping, and a URL reversed once for every row's id."""

from html import escape

from django.urls import reverse

PK_SLOT = 918273645  # reversed once, then replaced by each row's id


def escaped(value) -> str:
    """What Django's auto-escaping does to a value: the standard library's escape, quotes
    included."""
    return escape(str(value), quote=True)


def url_for_any_id(name: str) -> str:
    """The URL of `name` with `{}` where a row's id goes (reversing once per page, not per
    row)."""
    return reverse(name, args=[PK_SLOT]).replace(str(PK_SLOT), "{}")
