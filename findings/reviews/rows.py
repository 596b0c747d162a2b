"""One row of a cycle's queue as HTML, built in Python.

A queue page shows 25 rows, each with a dozen fields, badges and two links; through the
template engine that was most of the page's time (about a thousand variable look-ups and fifty
URL reversals per page). Every value goes through `format_html`/`escape`, as the template's
auto-escaping did. The queue page and the row swapped in after a decision
(`cycle.html#item-row`, via the `item_row` tag) both render it here, so they cannot drift.
"""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from findings.models import Decision, ReviewItem

PK_SLOT = 918273645  # reversed once, then replaced by each row's id
KIND_WORDS = dict(Decision.Kind.choices)
FRESHNESS_WORDS = {"gone": "Gone from fresh data"}


class Names:
    """People's names by id: from a dict the page built (queue.people_names), else read
    through the row's own relation (a single row swapped in after a decision)."""

    def __init__(self, names: dict[int, str] | None):
        self.names = names

    def of(self, item, relation: str) -> str:
        pk = getattr(item, f"{relation}_id")
        if self.names is not None and pk in self.names:
            return self.names[pk]
        user = getattr(item, relation)
        return user.full_name or user.email


def decision_cell(*, item: ReviewItem, names: Names) -> str:
    """The decision badge (who, when, how), or "Undecided"; then the remediation state."""
    parts = []
    decision = item.latest_decision
    if decision is None:
        parts.append('<span class="badge undecided">Undecided</span>')
    else:
        parts.append(
            format_html(
                '<span class="badge decision-{}">{}</span>',
                decision.kind,
                KIND_WORDS.get(decision.kind, decision.kind),
            )
        )
        if decision.kind == Decision.Kind.DELEGATE and decision.delegate_to_id:
            parts.append(
                format_html(' <span class="help">to {}</span>', names.of(decision, "delegate_to"))
            )
        if decision.kind == Decision.Kind.ACCEPT_RISK and decision.expires_on:
            parts.append(
                format_html(' <span class="help">until {}</span>', decision.expires_on.isoformat())
            )
        parts.append(
            format_html(
                '<div class="help">{}, {}{}</div>',
                names.of(decision, "decided_by"),
                timezone.localtime(decision.decided_at).strftime("%Y-%m-%d"),
                " (bulk)" if decision.bulk else "",
            )
        )
    if item.remediation:
        parts.append(
            format_html(
                '<div class="remediation remediation-{}">{}</div>',
                item.remediation,
                "Remediation verified" if item.remediation == "verified" else "Remediation pending",
            )
        )
    return "".join(parts)


class RowRenderer:
    """Rows of one cycle's queue for one viewer: `selectable` adds the bulk form's checkbox
    (checked for ids in `selected`); `oob` marks a row swapped out of band after a decision."""

    def __init__(
        self,
        *,
        selectable: bool,
        selected=(),
        oob: bool = False,
        names: dict[int, str] | None = None,
    ):
        self.names = Names(names)
        self.selectable = selectable
        self.selected = selected
        self.oob = oob
        self.item_url = reverse("review_item", args=[PK_SLOT]).replace(str(PK_SLOT), "{}")

    def __call__(self, item: ReviewItem) -> SafeString:
        pk = item.pk
        url = self.item_url.format(pk)
        title = escape(item.title)
        cells = [
            format_html(
                '<tr id="item-{}-row" class="item-row{}"{}>',
                pk,
                " is-decided" if item.is_decided else "",
                mark_safe(' hx-swap-oob="true"') if self.oob else "",
            )
        ]
        if self.selectable:
            cells.append(
                format_html(
                    '<td class="cell-select"><input type="checkbox" name="items" value="{}" '
                    'form="bulk-form" aria-label="Select {}"{}></td>',
                    pk,
                    title,
                    mark_safe(" checked") if pk in self.selected else "",
                )
            )
        if item.severity:
            cells.append(
                format_html(
                    '<td><span class="badge sev-{}">{}</span></td>',
                    item.severity,
                    item.severity.capitalize(),
                )
            )
        else:
            cells.append('<td><span class="badge clean">Clean</span></td>')
        cells.append(
            format_html(
                '<td class="cell-item"><a class="item-title" href="{url}" hx-get="{url}" '
                'hx-target="#item-{pk}-slot" data-expands="item-{pk}-detail" '
                'aria-expanded="false" aria-controls="item-{pk}-detail">{title}</a>'
                '<div class="help wrap"><code>{arn}</code></div>',
                url=url,
                pk=pk,
                title=title,
                arn=item.subject_arn,
            )
        )
        if item.freshness:
            cells.append(
                '<span class="badge fresh-data" title="Fresh data differs from the evidence '
                f'this cycle froze">{FRESHNESS_WORDS.get(item.freshness, "Fresh data changed")}'
                "</span>"
            )
        if item.no_response_at and not item.is_decided:
            cells.append('<span class="badge overdue">No response by the due date</span>')
        if item.follows_item_id:
            cells.append('<span class="badge returned">Returned: accepted risk expired</span>')
        cells.append("</td>")
        account = item.account
        cells.append(
            format_html('<td>{}<div class="help">{}</div></td>', account.name, account.account_id)
        )
        if item.assignee_id:
            cells.append(format_html("<td>{}</td>", self.names.of(item, "assignee")))
        else:
            cells.append('<td><span class="muted">—</span></td>')
        cells.append(f"<td>{decision_cell(item=item, names=self.names)}</td></tr>")
        return mark_safe("".join(cells))  # noqa: S308 - format_html or constants, each part

    def groups(self, items) -> SafeString:
        """Each item's row and the hidden row its evidence opens into, as the queue's table
        bodies."""
        columns = 6 if self.selectable else 5
        return mark_safe(  # noqa: S308 - escaped rows, integers and constants
            "".join(
                f'<tbody class="item-group">\n{self(item)}\n<tr class="item-detail" '
                f'id="item-{item.pk}-detail" hidden><td colspan="{columns}" '
                f'id="item-{item.pk}-slot"></td></tr>\n</tbody>\n'
                for item in items
            )
        )
