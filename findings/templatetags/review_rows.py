"""`{% item_row item %}`: one queue row (findings.reviews.rows), with the page's options."""

from django import template

from findings.reviews.rows import RowRenderer

register = template.Library()


@register.simple_tag(takes_context=True)
def item_row(context, item):
    bulk = context.get("bulk") or {}
    return RowRenderer(
        selectable=bool(context.get("selectable")),
        selected=bulk.get("selected", ()),
        oob=bool(context.get("oob")),
    )(item)
