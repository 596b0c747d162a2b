"""One row of a cycle's queue as HTML, built in Python.

A queue page shows 25 rows, each with a dozen fields, badges and two links; through the
template engine that was most of the page's time (about a thousand variable look-ups and fifty
URL reversals per page). Every value from the database goes through `_e` (the standard library's
`html.escape`, quotes included: what Django's auto-escaping calls); the rest are constants,
integers and dates. The queue page and the row swapped in after a decision
(`cycle.html#item-row`, via the `item_row` tag) both render it here, so they cannot drift.
"""

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from findings.models import Decision, ReviewItem
from iamreview.rowhtml import escaped as _e
from iamreview.rowhtml import url_for_any_id

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
        kind = decision.kind
        parts.append(
            f'<span class="badge decision-{_e(kind)}">{_e(KIND_WORDS.get(kind, kind))}</span>'
        )
        if kind == Decision.Kind.DELEGATE and decision.delegate_to_id:
            parts.append(f' <span class="help">to {_e(names.of(decision, "delegate_to"))}</span>')
        if kind == Decision.Kind.ACCEPT_RISK and decision.expires_on:
            parts.append(f' <span class="help">until {decision.expires_on.isoformat()}</span>')
        decided_on = timezone.localtime(decision.decided_at).strftime("%Y-%m-%d")
        parts.append(
            f'<div class="help">{_e(names.of(decision, "decided_by"))}, {decided_on}'
            f"{' (bulk)' if decision.bulk else ''}</div>"
        )
    if item.remediation:
        words = "Remediation verified" if item.remediation == "verified" else "Remediation pending"
        parts.append(f'<div class="remediation remediation-{_e(item.remediation)}">{words}</div>')
    return "".join(parts)


class RowRenderer:
    """Rows of one cycle's queue for one viewer: `selectable` adds the bulk form's checkbox
    (checked for ids in `selected`); `oob` marks a row swapped out of band after a decision.
    `names` (people by id) and `accounts` (account id and name by pk) save each row's joins;
    without them a row reads its own relations."""

    def __init__(
        self,
        *,
        selectable: bool,
        selected=(),
        oob: bool = False,
        names: dict[int, str] | None = None,
        accounts: dict[int, tuple[str, str]] | None = None,
    ):
        self.names = Names(names)
        self.accounts = accounts or {}
        self.selectable = selectable
        self.selected = selected
        self.oob = oob
        self.item_url = url_for_any_id("review_item")

    def __call__(self, item: ReviewItem) -> SafeString:
        pk = int(item.pk)
        url = _e(self.item_url.format(pk))
        title = _e(item.title)
        decided = " is-decided" if item.is_decided else ""
        oob = ' hx-swap-oob="true"' if self.oob else ""
        # Whose turn it is: the keys' "next undecided" skips items delegated to someone else.
        assignee = f' data-assignee="{int(item.assignee_id)}"' if item.assignee_id else ""
        cells = [f'<tr id="item-{pk}-row" class="item-row{decided}"{assignee}{oob}>']
        if self.selectable:
            cells.append(
                f'<td class="cell-select"><input type="checkbox" name="items" value="{pk}" '
                f'form="bulk-form" aria-label="Select {title}"'
                f"{' checked' if pk in self.selected else ''}></td>"
            )
        if item.severity:
            severity, word = _e(item.severity), _e(item.severity.capitalize())
            cells.append(f'<td><span class="badge sev-{severity}">{word}</span></td>')
        else:
            # Findings set aside (excluded, or decided earlier) are not counted here: a user
            # with none open is not necessarily clean (the item page lists them).
            cells.append(
                '<td><span class="badge clean" title="No open finding; any set aside are '
                'listed on the item">None open</span></td>'
            )
        cells.append(
            f'<td class="cell-item"><a class="item-title" href="{url}" hx-get="{url}" '
            f'hx-target="#item-{pk}-slot" data-expands="item-{pk}-detail" '
            f'aria-expanded="false" aria-controls="item-{pk}-detail">{title}</a>'
            f'<div class="help wrap"><code>{_e(item.subject_arn)}</code></div>'
        )
        if item.freshness:
            parts = (item.fresh_changes or {}).get("parts") or []
            what = f": {_e(', '.join(parts))}" if parts else ""
            cells.append(
                '<span class="badge fresh-data" title="Fresh data differs from the evidence '
                f'this cycle froze{what}">'
                f"{FRESHNESS_WORDS.get(item.freshness, 'Fresh data changed')}</span>"
            )
        if item.no_response_at and not item.is_decided:
            cells.append('<span class="badge overdue">No response by the due date</span>')
        if item.follows_item_id:
            cells.append('<span class="badge returned">Returned: accepted risk expired</span>')
        cells.append("</td>")
        if item.account_id in self.accounts:
            account_id, name = self.accounts[item.account_id]
        else:
            account_id, name = item.account.account_id, item.account.name
        cells.append(f'<td>{_e(name)}<div class="help">{_e(account_id)}</div></td>')
        if item.assignee_id:
            cells.append(f"<td>{_e(self.names.of(item, 'assignee'))}</td>")
        else:
            cells.append('<td><span class="muted">—</span></td>')
        cells.append(f"<td>{decision_cell(item=item, names=self.names)}</td></tr>")
        return mark_safe("".join(cells))  # noqa: S308 - escaped values, integers and constants

    def groups(self, items) -> SafeString:
        """Each item's row and the hidden row its evidence opens into, as the queue's table
        bodies."""
        columns = 6 if self.selectable else 5
        return mark_safe(  # noqa: S308 - escaped rows, integers and constants
            "".join(
                f'<tbody class="item-group">\n{self(item)}\n<tr class="item-detail" '
                f'id="item-{int(item.pk)}-detail" hidden><td colspan="{columns}" '
                f'id="item-{int(item.pk)}-slot"></td></tr>\n</tbody>\n'
                for item in items
            )
        )
