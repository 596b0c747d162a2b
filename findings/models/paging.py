"""Reading a page of a large, filtered, ordered queryset without paying for the rows it skips."""

from django.db.models import QuerySet


class LateRows:
    """A queryset read a page at a time in two steps: the ids of the page first (an index-only
    walk of the index that matches the filters and the order, however deep the OFFSET), then
    only those rows, with their joins. For a Paginator, in place of the queryset."""

    def __init__(self, queryset: QuerySet) -> None:
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list:
        ids = list(self.queryset.values_list("pk", flat=True)[index])
        rows = {row.pk: row for row in self.queryset.filter(pk__in=ids).order_by()}
        return [rows[pk] for pk in ids if pk in rows]
