"""Pages of a list: ?page=N from 1, answered as {results, count, next, previous}.

Two queries whatever the page: the count and the page's rows. `next` and `previous` are
absolute links that keep the request's other parameters; a page past the end is a 404.
"""

from collections.abc import Callable
from typing import Any

from ninja import Field, Schema
from ninja.pagination import PaginationBase

from findings.api.errors import ApiError
from findings.api.inputs import MAX_PAGE, MAX_PAGE_SIZE, whole_number
from findings.api.schemas import Link


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

    def __init__(self, *, page_size: Callable[[], int], **kwargs):
        super().__init__(**kwargs)
        self.page_size = page_size

    def paginate_queryset(self, queryset, pagination: PageQuery, request, **params) -> dict:
        number = pagination.page
        size = getattr(pagination, "page_size", None) or self.page_size()
        count = queryset.count()
        rows = list(queryset[(number - 1) * size : number * size])
        if number > 1 and not rows:
            raise ApiError(404, {"error": f"There is no page {number}."})

        def link(to: int) -> str:
            params = request.GET.copy()
            params["page"] = str(to)
            return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

        return {
            "results": rows,
            "count": count,
            "next": link(number + 1) if number * size < count else None,
            "previous": link(number - 1) if number > 1 else None,
        }


class SizedPageNumbers(PageNumbers):
    """Pages whose size the client may choose, up to MAX_PAGE_SIZE."""

    Input = SizedPageQuery
