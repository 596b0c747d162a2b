"""How one review item reads: its frozen evidence as facts, findings, policies and diffs, and
the item page's context (whether fresh data changed is stored on the item: reviews/freshness.py).
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.urls import reverse

from accounts.models import User
from accounts.permissions import Capability, can
from findings.detection.detect import AA_PREFIX
from findings.detection.selectors import check_title
from findings.inventory.selectors import REASON_WORDS
from findings.models import (
    AwsAccount,
    CycleTally,
    IamRole,
    IamUser,
    PolicySuggestion,
    ReviewCycle,
    ReviewItem,
)
from findings.models.rawrows import Columns, one_row, select_list, storable_id, table
from findings.reviews.forms import DECISION_HELP, KEYS_HELP, DecisionForm
from findings.reviews.plans import shows_suggestion
from findings.reviews.services import Conflict, Forbidden, check_may_decide, reviewer_choices

# --- Evidence as the page shows it -----------------------------------------------------------

FACT_LABELS = {
    "arn": "ARN",
    "resource": "Resource",
    "resource_type": "Resource type",
    "finding_type": "Finding type",
    "aws_status": "Status in AWS",
    "resource_owner_account": "Resource owner account",
    "analyzed_at": "Analyzed by AWS",
    "user": "User",
    "root": "Root user",
    "created": "Created",
    "password_enabled": "Console password",
    "mfa_active": "MFA active",
    "password_last_used": "Password last used",
    "password_last_changed": "Password last changed",
    "password_next_rotation": "Password next rotation",
    "access_key_1_active": "Access key 1 active",
    "access_key_1_last_rotated": "Access key 1 created or rotated",
    "access_key_1_last_used_date": "Access key 1 last used",
    "access_key_2_active": "Access key 2 active",
    "access_key_2_last_rotated": "Access key 2 created or rotated",
    "access_key_2_last_used_date": "Access key 2 last used",
    "cert_1_last_rotated": "Certificate 1 rotated",
    "cert_2_last_rotated": "Certificate 2 rotated",
    "last_used": "Last used",
    "last_used_region": "Last used in region",
    "last_used_note": "Last use",
    "service_linked": "Service-linked role",
}
CODE_FACTS = {"arn", "resource"}
AWS_STATUS_WORDS = {
    "ACTIVE": "Active in AWS",
    "ARCHIVED": "Archived in AWS (marked as intended)",
    "RESOLVED": "Resolved in AWS",
}
# Credential-report facts shown together in the credentials table of a user item.
CREDENTIAL_FACTS = {
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    # Shown as rows of the table when active (evidence "signing_certificates"), not as facts.
    "cert_1_last_rotated",
    "cert_2_last_rotated",
}


@dataclass
class Fact:
    label: str
    text: str = ""
    when: datetime | None = None
    absent: bool = False
    code: bool = False


def parse_moment(value) -> datetime | None:
    """An ISO date or datetime from frozen evidence (JSON keeps them as strings)."""
    if not (isinstance(value, str) and len(value) >= 10 and value[4:5] == "-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def fact_text(value) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _readable(key: str, value):
    """Access Analyzer's codes in words (`ExternalAccess`, `ACTIVE`)."""
    if key == "finding_type" and isinstance(value, str):
        return check_title(check_id=AA_PREFIX + value)
    if key == "aws_status" and isinstance(value, str):
        return AWS_STATUS_WORDS.get(value, value.title())
    return value


def present_facts(facts: dict, *, skip: set[str] = frozenset()) -> list[Fact]:
    shown = []
    for key, value in (facts or {}).items():
        if key.endswith("_reason") or key == "details" or key in skip:
            continue
        value = _readable(key, value)
        label = FACT_LABELS.get(key, key.replace("_", " ").capitalize())
        if value is None:
            reason = facts.get(f"{key}_reason")
            if reason:
                shown.append(Fact(label, REASON_WORDS.get(reason, reason), absent=True))
            continue
        if (moment := parse_moment(value)) is not None:
            shown.append(Fact(label, when=moment))
        else:
            shown.append(Fact(label, fact_text(value), code=key in CODE_FACTS))
    return shown


def diff_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Unified diff lines with the class that colours them."""
    classed = []
    for line in lines:
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "context"
        classed.append((kind, line))
    return classed


def present_credentials(facts: dict) -> list[dict]:
    """A user's password and keys, each with when it was set and last used (and why not)."""
    if "password_enabled" not in facts:
        return []

    def row(name, active, created, last_used):
        return {
            "name": name,
            "active": active,
            "created": facts.get(created),
            "created_reason": facts.get(f"{created}_reason") or "",
            "last_used": facts.get(last_used),
            "last_used_reason": facts.get(f"{last_used}_reason") or "",
        }

    rows = [
        row(
            "Console password",
            facts.get("password_enabled"),
            "password_last_changed",
            "password_last_used",
        )
    ]
    for n in (1, 2):
        rows.append(
            row(
                f"Access key {n}",
                facts.get(f"access_key_{n}_active"),
                f"access_key_{n}_last_rotated",
                f"access_key_{n}_last_used_date",
            )
        )
    return rows


def present_evidence(evidence: dict) -> dict:
    facts = evidence.get("facts") or {}
    credentials = present_credentials(facts) + [
        {
            "name": certificate["name"],
            "active": True,
            "created": certificate.get("uploaded"),
            "created_reason": "",
            "last_used": None,
            "last_used_reason": "",
            "use_not_recorded": True,
        }
        for certificate in evidence.get("signing_certificates") or []
    ]
    changes = evidence.get("changes")
    if changes is not None:
        changes = {
            **changes,
            "since_date": parse_moment(changes.get("since")),
            "policies": [
                {**change, "lines": diff_lines(change.get("diff") or [])}
                for change in changes.get("policies") or []
            ],
        }
    return {
        "facts": present_facts(facts, skip=CREDENTIAL_FACTS if credentials else set()),
        "credentials": credentials,
        "access_details": facts.get("details") or [],
        "findings": [
            {**finding, "why": (finding.get("evidence") or {}).get("why", "")}
            for finding in evidence.get("findings") or []
        ],
        "policies": [
            (label, json.dumps(document, indent=2, sort_keys=True))
            for label, document in (evidence.get("policies") or {}).items()
        ],
        "has_policies": "policies" in evidence,
        "policies_unknown": evidence.get("policies_unknown", ""),
        "set_aside": evidence.get("set_aside") or [],
        "unused_services": evidence.get("unused_services"),
        "changes": changes,
        "returned": evidence.get("returned"),
    }


# --- The item page ---------------------------------------------------------------------------


INVENTORY_PAGES = {"user": (IamUser, "inventory_user"), "role": (IamRole, "inventory_role")}


ITEM_COLUMNS = Columns(ReviewItem, alias="i")
CYCLE_COLUMNS = Columns(ReviewCycle, alias="c")
TALLY_COLUMNS = Columns(CycleTally, alias="t")
ACCOUNT_COLUMNS = Columns(AwsAccount, alias="a")


def attach_tally(cycle: ReviewCycle, tally: CycleTally | None) -> None:
    """Cache the cycle's tally (or its absence, as select_related would) on the cycle."""
    ReviewCycle._meta.get_field("tally").set_cached_value(cycle, tally)


def one_or_404(sql: str, pk: int, parts: tuple[Columns, ...], *, what: str) -> list:
    """The row of `pk` as the instances of `parts`; 404 when there is none (or `pk` is too
    large to be an id: the URL's <int:pk> takes any number of digits)."""
    found = one_row(sql, [pk], parts) if storable_id(pk) else None
    if found is None:
        raise Http404(f"No such {what}")
    return found


def load_item(pk: int) -> ReviewItem:
    """The item with its cycle, the cycle's tally and its account, in one hand-written
    statement (through the ORM, compiling the joins cost more than running them). The people
    and the latest decision are read when shown (item_context takes the latest decision from
    the history it reads anyway)."""
    parts = (ITEM_COLUMNS, CYCLE_COLUMNS, TALLY_COLUMNS, ACCOUNT_COLUMNS)
    # Quoted table names and fixed columns only; the id goes as a parameter.
    sql = (
        f"SELECT {select_list(parts)} FROM {table(ReviewItem)} i"  # noqa: S608
        f" JOIN {table(ReviewCycle)} c ON c.id = i.cycle_id"
        f" LEFT JOIN {table(CycleTally)} t ON t.cycle_id = c.id"
        f" JOIN {table(AwsAccount)} a ON a.id = i.account_id WHERE i.id = %s"
    )
    item, cycle, tally, account = one_or_404(sql, pk, parts, what="review item")
    attach_tally(cycle, tally)
    item.cycle, item.account = cycle, account
    return item


PERSON_COLUMNS = ("email", "full_name")
OPENED_BY_COLUMNS = Columns(User, PERSON_COLUMNS, alias="o")
SIGNED_BY_COLUMNS = Columns(User, PERSON_COLUMNS, alias="s")


def read_cycle(pk: int) -> ReviewCycle:
    """The cycle with its tally and the names of who opened and signed it off, in one
    hand-written statement (the queue's every page reads it)."""
    users = table(User)
    parts = (CYCLE_COLUMNS, TALLY_COLUMNS, OPENED_BY_COLUMNS, SIGNED_BY_COLUMNS)
    # Quoted table names and fixed columns only; the id goes as a parameter.
    sql = (
        f"SELECT {select_list(parts)} FROM {table(ReviewCycle)} c"  # noqa: S608
        f" LEFT JOIN {table(CycleTally)} t ON t.cycle_id = c.id"
        f" LEFT JOIN {users} o ON o.id = c.opened_by_id"
        f" LEFT JOIN {users} s ON s.id = c.signed_off_by_id WHERE c.id = %s"
    )
    cycle, tally, opened_by, signed_off_by = one_or_404(sql, pk, parts, what="review cycle")
    attach_tally(cycle, tally)
    cycle.opened_by, cycle.signed_off_by = opened_by, signed_off_by
    return cycle


def before_in_queue(item: ReviewItem) -> RawSQL:
    """Items before this one in the queue's default order (severity, title, id), as one row
    comparison: the index item_queue_order seeks straight to it, where the equivalent OR of
    three conditions reads the cycle's items one by one (the queue finds an item's page)."""
    table = ReviewItem._meta.db_table
    columns = ", ".join(f'"{table}"."{c}"' for c in ("severity_rank", "title", "id"))
    # Fixed column names; the item's values go as parameters.
    return RawSQL(  # noqa: S611
        f"({columns}) < (%s, %s, %s)",
        (item.severity_rank, item.title, item.pk),
        output_field=BooleanField(),
    )


def _around_sql(*, inventory_table: str | None, suggestion: bool, position: bool) -> str:
    """One statement for what the item page links to: the item's user or role in the inventory
    and its stored suggestion (ids, each an index probe), and, with `position`, its neighbours
    in the queue's default order (severity, title, id): the previous and next items, the next
    undecided one after it and the first undecided one (to wrap round). Each neighbour is a row
    comparison the index item_queue_order (or item_queue_undecided) seeks straight to; an OR of
    three conditions would read the cycle's items one by one. Quoted table names and fixed
    columns only; the item's values go as parameters (`_around_params`, in the same order)."""
    quote = connection.ops.quote_name
    columns = []
    if inventory_table:
        columns.append(
            f"(SELECT id FROM {quote(inventory_table)} WHERE account_id = %s AND arn = %s"  # noqa: S608
            " AND gone_at IS NULL ORDER BY id LIMIT 1)"
        )
    else:
        columns.append("NULL")
    if suggestion:
        table = quote(PolicySuggestion._meta.db_table)
        columns.append(
            f"(SELECT id FROM {table} WHERE account_id = %s AND principal_arn = %s LIMIT 1)"  # noqa: S608
        )
    else:
        columns.append("NULL")
    if position:
        pick = f"SELECT id FROM {quote(ReviewItem._meta.db_table)} WHERE"  # noqa: S608
        key = "(severity_rank, title, id)"
        forward = "ORDER BY severity_rank, title, id LIMIT 1"
        backward = "ORDER BY severity_rank DESC, title DESC, id DESC LIMIT 1"
        undecided = "cycle_id = %s AND NOT is_decided AND id <> %s"
        columns += [
            f"({pick} cycle_id = %s AND {key} < (%s, %s, %s) {backward})",
            f"({pick} cycle_id = %s AND {key} > (%s, %s, %s) {forward})",
            f"({pick} {undecided} AND {key} > (%s, %s, %s) {forward})",
            f"({pick} {undecided} {forward})",
        ]
    return "SELECT " + ", ".join(columns)


def _around_params(item: ReviewItem, *, inventory: bool, suggestion: bool, position: bool):
    params = []
    if inventory:
        params += [item.account_id, item.subject_arn]
    if suggestion:
        params += [item.account_id, item.subject_arn]
    if position:
        here = (item.severity_rank, item.title, item.pk)
        params += [item.cycle_id, *here, item.cycle_id, *here]
        params += [item.cycle_id, item.pk, *here, item.cycle_id, item.pk]
    return params


SUGGESTION_COLUMNS = Columns(PolicySuggestion, alias="s")


def around_item(item: ReviewItem, *, position: bool) -> dict:
    """What the item page links to, in one statement: its inventory page, its principal's
    suggestion (on the items that show one) and, with `position` (the whole page), where it
    sits in its queue: the previous and next items, the next undecided one (wrapping round),
    and a link to the queue at this item (the queue finds its page when followed: counting
    the items before it here would cost every item view a pass over the cycle)."""
    model, page = INVENTORY_PAGES.get(item.subject_type, (None, ""))
    suggestion = bool(item.subject_arn) and shows_suggestion(item=item)
    inventory = model is not None
    row = (None,) * 6
    if inventory or suggestion or position:
        with connection.cursor() as cursor:
            cursor.execute(
                _around_sql(
                    inventory_table=model._meta.db_table if inventory else None,
                    suggestion=suggestion,
                    position=position,
                ),
                _around_params(item, inventory=inventory, suggestion=suggestion, position=position),
            )
            row = cursor.fetchone()
    inventory_pk, suggestion_pk = row[:2]
    around = {
        "inventory_url": reverse(page, args=[inventory_pk]) if inventory_pk else "",
        # A right-sizing run may replace the suggestion between the two reads: then none.
        "suggestion": SUGGESTION_COLUMNS.get(suggestion_pk) if suggestion_pk else None,
    }
    if position:
        previous, following, next_undecided, first_undecided = row[2:]
        next_undecided = next_undecided or first_undecided
        queue = reverse("review_cycle", args=[item.cycle_id])
        around["position"] = {
            "previous_url": reverse("review_item", args=[previous]) if previous else "",
            "next_url": reverse("review_item", args=[following]) if following else "",
            "next_undecided_url": reverse("review_item", args=[next_undecided])
            if next_undecided
            else "",
            "queue_url": f"{queue}?item={item.pk}#item-{item.pk}-row",
        }
    return around


def decision_radios(form: DecisionForm) -> list[dict]:
    """The decision's radio buttons as RadioSelect would write them (ids `<field id>_<n>`, the
    chosen one checked), each with its help: the item.html loop writes the inputs itself, as
    rendering six widget templates cost more than the rest of the form."""
    field = form["decision"]
    chosen = "" if field.value() is None else str(field.value())
    return [
        {
            "id": f"{field.auto_id}_{index}",
            "value": value,
            "label": label,
            "checked": value == chosen,
            "help": DECISION_HELP.get(value, ""),
        }
        for index, (value, label) in enumerate(field.field.choices)
    ]


def item_context(
    request,
    item: ReviewItem,
    *,
    form: DecisionForm | None = None,
    conflict: Conflict | None = None,
    forbidden: str = "",
    saved: bool = False,
    position: bool = False,
) -> dict:
    """The item page's context; with `position` (the whole page, not a swapped panel), where
    the item sits in its queue."""
    cycle = item.cycle
    open_ = cycle.state == ReviewCycle.State.OPEN
    may_decide, refusal = False, forbidden
    if open_ and can(request.user, Capability.DECIDE) and not forbidden:
        try:
            check_may_decide(actor=request.user, item=item)
            may_decide = True
        except Forbidden as exc:
            refusal = str(exc)
    if may_decide and form is None:
        form = DecisionForm(
            reviewers=reviewer_choices(exclude=request.user.pk),
            item_id=item.pk,
            initial={"expected_latest_id": item.latest_decision_id},
        )
    # Every decision becomes the item's latest when made (decisions are never deleted): an item
    # without a latest decision has no history to read.
    decisions = (
        list(
            item.decisions.select_related("decided_by", "delegate_to").order_by("decided_at", "id")
        )
        if item.latest_decision_id
        else []
    )
    for decision in decisions:
        if decision.pk == item.latest_decision_id:
            item.latest_decision = decision  # the history holds it: no query of its own
    return {
        "item": item,
        "cycle": cycle,
        "evidence": present_evidence(item.frozen_evidence or {}),
        **around_item(item, position=position),
        "decisions": decisions,
        "form": form if may_decide else None,
        "decision_radios": decision_radios(form) if may_decide else [],
        "conflict": conflict,
        "refusal": refusal,
        "saved": saved,
        "locked": not open_,
        **KEYS_HELP,
    }
