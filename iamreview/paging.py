"""The page a list is asked for, as Django's Paginator.get_page reads it, but for a number below
1: Django's get_page answers the last page for `?page=0` or `?page=-3`; the first is meant."""


def page_asked(value: str | int | None) -> str | int | None:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value  # not a number: get_page shows the first page
    return 1 if number < 1 else value
