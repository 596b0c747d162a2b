"""Pages of a list: ?page=N from 1, answered as {results, count, next, previous}.

Three queries at most whatever the page: the count, the page's ids and its rows. The count is
bounded (it stops at max_rows) unless the list knows a cheaper exact total (the findings'
cached severity counts); pages stop at max_rows too, so OFFSET never walks further than that.
`next` and `previous` are absolute links that keep the request's other parameters; a page past
the end (or past max_rows) is a 404.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.pagination import PaginationBase

from findings.api.errors import ApiError
from findings.api.inputs import MAX_PAGE, MAX_PAGE_SIZE, whole_number
from findings.api.schemas import Link
from findings.models.paging import LateRows


class PageQuery(Schema):
    page: whole_number(default=1, maximum=MAX_PAGE) = Field(1, description="Page number, from 1.")


class SizedPageQuery(PageQuery):
    page_size: whole_number(default=None, maximum=MAX_PAGE_SIZE) = Field(
        None, description="Rows per page."
    )


class PageNumbers(PaginationBase):
    """Fixed-size pages; `page_size` is asked for each request."""

    Input = PageQuery

    class Output(Schema):
        results: list[Any]
        count: int = Field(ge=0)
        next: Link | None
        previous: Link | None

    items_attribute = "results"

    def __init__(
        self,
        *,
        page_size: Callable[[], int],
        total: Callable[[QuerySet, Any], int] | None = None,
        max_rows: Callable[[], int] = lambda: settings.FINDINGS_LIST_MAX_ROWS,
        read: Callable[..., dict] | None = None,
        **kwargs,
    ):
        """`read(ids=...)` reads a page's rows by their ids ({id: row}, LateRows), in place
        of the queryset."""
        super().__init__(**kwargs)
        self.page_size = page_size
        self.total = total
        self.max_rows = max_rows
        self.read = read

    def paginate_queryset(self, queryset, pagination: PageQuery, request, **params) -> dict:
        number = pagination.page
        size = getattr(pagination, "page_size", None) or self.page_size()
        max_rows = self.max_rows()
        if self.total is not None:
            count = self.total(queryset, request)
        else:
            # COUNT over a LIMITed subquery: never more than max_rows rows read.
            count = queryset.order_by().values("pk")[:max_rows].count()
        reachable = min(count, max_rows)
        if (number - 1) * size >= max_rows:
            raise ApiError(
                404,
                {"error": f"Pages stop at row {max_rows}; narrow the filters to see further."},
            )
        # The page's ids first (an index-only walk however deep), then its rows.
        rows = LateRows(queryset, read=self.read)[
            (number - 1) * size : min(number * size, max_rows)
        ]
        if number > 1 and not rows:
            raise ApiError(404, {"error": f"There is no page {number}."})

        def link(to: int) -> str:
            params = request.GET.copy()
            params["page"] = str(to)
            return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

        return {
            "results": rows,
            "count": count,
            "next": link(number + 1) if number * size < reachable else None,
            "previous": link(number - 1) if number > 1 else None,
        }


class SizedPageNumbers(PageNumbers):
    """Pages whose size the client may choose, up to MAX_PAGE_SIZE."""

    Input = SizedPageQuery
