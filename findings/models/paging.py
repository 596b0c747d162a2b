"""Reading a page of a large, filtered, ordered queryset without paying for the rows it skips."""

from django.db.models import QuerySet


class LateRows:
    """A queryset read a page at a time: the ids of the page first (an index-only walk of the
    index that matches the filters and the order, however deep the OFFSET), then only those
    rows, with their joins. One statement (`WHERE id IN (the page's ids)`): the database
    limits the inner walk before it joins anything. For a Paginator, in place of the
    queryset."""

    def __init__(self, queryset: QuerySet, *, read=None) -> None:
        """`read`, if given, reads the rows of a page's ids (`read(ids=...)` gives {id: row})
        in place of the queryset: a hand-written statement for a hot list
        (findings.models.rawrows), whose ORM statement cost more to compile than to run.
        The page is then two statements."""
        self.queryset = queryset
        self.read = read

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list:
        ids = self.queryset.values_list("pk", flat=True)[index]
        if self.read is None:
            return list(self.queryset.filter(pk__in=ids))
        ids = list(ids)
        by_id = self.read(ids=ids) if ids else {}
        return [by_id[pk] for pk in ids if pk in by_id]


class ReadIds:
    """Ids already in order (all a search matched, say), read a page at a time through
    `read` (as LateRows' `read`). For a Paginator."""

    def __init__(self, ids: list[int], *, read) -> None:
        self.ids = ids
        self.read = read

    def count(self) -> int:
        return len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: slice) -> list:
        ids = self.ids[index]
        by_id = self.read(ids=ids) if ids else {}
        return [by_id[pk] for pk in ids if pk in by_id]
