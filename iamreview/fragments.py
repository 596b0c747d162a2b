"""A rendered part of a page kept in the cache: the Findings list and the inventory tables.

Each caller's key says what the fragment depends on (a version of the data, the filters, the
page); a view that finds it renders only the page around it.
"""

from collections.abc import Callable

from django.core.cache import cache
from django.template.loader import render_to_string


def cached_fragment(
    request, *, key: str, seconds: int, template: str, build: Callable[[], dict]
) -> tuple[str, dict]:
    """The fragment's HTML and, when it was just rendered, the context it was rendered with
    (empty when it came from the cache: tests read it)."""
    content = cache.get(key)
    if content is not None:
        return content, {}
    context = build()
    content = render_to_string(template, context, request)
    cache.set(key, content, seconds)
    return content, context
