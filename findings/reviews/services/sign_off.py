"""Signing a cycle off: who may (segregation of duties, nothing left waiting), the approver's
attestation against the summary they read, and who may download a cycle's evidence."""

from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import LinkedIdentity, User
from accounts.permissions import Capability, can
from findings.audit.services import record
from findings.models import AuditEntry, Decision, ReviewCycle, ReviewItem
from findings.reviews.evidence import population_hash
from findings.reviews.services.errors import Forbidden, Invalid
from findings.reviews.services.rules import MIN_ATTESTATION_LENGTH
from findings.reviews.summary import sign_off_summary, summary_document
from findings.reviews.tally import cycle_tally

# A registration of a release already in review that changed its cycle (other roles, other
# notes) is registering it too: its audit entries name who did it.
RELEASE_CHANGED = ("cycle.release_updated", "cycle.release_notes_changed")
REGISTERED_THIS_RELEASE = (
    "Segregation of duties: you registered this release, so another approver must sign it off"
)


class Segregation(NamedTuple):
    decided_here: bool  # the person decided an item of the cycle
    reviews_own: bool  # the cycle reviews one of their own IAM identities
    changed_release: bool  # they registered the (release) cycle's release again, changing it


def _segregation_flags(*, cycle: ReviewCycle, user_id: int) -> Segregation:
    """Segregation of duties in one statement of index probes (item_cycle_subject for the
    second, the audit log's (target_type, target_id) for the third, asked of release cycles
    only). Written out because approvers ask on every view of a queue, and the ORM's compiling
    of the EXISTS cost more than running them."""
    quote = connection.ops.quote_name
    items, decisions, links, audit = (
        quote(model._meta.db_table) for model in (ReviewItem, Decision, LinkedIdentity, AuditEntry)
    )
    decided = f"SELECT 1 FROM {decisions} d JOIN {items} i ON i.id = d.item_id"  # noqa: S608
    own = f"SELECT 1 FROM {links} l JOIN {items} i ON i.subject_arn = l.arn"  # noqa: S608
    # Quoted table names only; the ids and actions are parameters.
    sql = (
        f"SELECT EXISTS({decided} WHERE d.decided_by_id = %s AND i.cycle_id = %s),"
        f" EXISTS({own} WHERE l.user_id = %s AND i.cycle_id = %s)"
    )
    params: list = [user_id, cycle.pk, user_id, cycle.pk]
    if cycle.kind == ReviewCycle.Kind.RELEASE:
        sql += (
            f", EXISTS(SELECT 1 FROM {audit} a WHERE a.target_type = %s"  # noqa: S608
            " AND a.target_id = %s AND a.actor_id = %s AND a.action IN (%s, %s))"
        )
        params += ["review_cycle", str(cycle.pk), user_id, *RELEASE_CHANGED]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        decided_here, reviews_own, *changed_release = cursor.fetchone()
    return Segregation(bool(decided_here), bool(reviews_own), any(changed_release))


def check_may_sign_off(*, cycle: ReviewCycle, approver: User, awaiting: int | None = None) -> None:
    """Forbidden with the reason when `approver` may not sign `cycle` off now. `awaiting` is the
    tally's count of items still waiting when the caller has just read it (pages); signing
    itself reads it again under the cycle's lock."""
    if not can(approver, Capability.SIGN_OFF):
        raise Forbidden("Only approvers sign off review cycles")
    if cycle.state == ReviewCycle.State.SIGNED_OFF:
        raise Forbidden("This cycle is already signed off")
    # Whoever registers a release (a person, or a pipeline's token) chose the roles under review
    # and wants it shipped: signing it off too would be the release approving itself. A
    # scheduled kind's population is the accounts' evidence, not its opener's choice, so
    # opening one (the schedule, or an administrator by hand) is no conflict.
    if cycle.kind == ReviewCycle.Kind.RELEASE and cycle.opened_by_id == approver.pk:
        raise Forbidden(REGISTERED_THIS_RELEASE)
    # Every segregation rule in one statement: pages ask this on every view of the queue.
    flags = _segregation_flags(cycle=cycle, user_id=approver.pk)
    if flags.decided_here:
        raise Forbidden(
            "Segregation of duties: you decided items in this cycle, so another approver "
            "must sign it off"
        )
    if flags.reviews_own:
        raise Forbidden(
            "Segregation of duties: this cycle reviews your own IAM identity, so another "
            "approver must sign it off"
        )
    if flags.changed_release:
        raise Forbidden(REGISTERED_THIS_RELEASE)
    # Items marked "no response" at the due date are shown to the approver, not waited for.
    remaining = cycle_tally(cycle=cycle).awaiting if awaiting is None else awaiting
    if remaining:
        noun = "item still waits" if remaining == 1 else "items still wait"
        raise Forbidden(f"{remaining} {noun} for a decision")


SUMMARY_NOT_READ = "Read the sign-off summary first, then sign against its hash (summary_hash)."


def sign_off_cycle(
    *, cycle: ReviewCycle, approver: User, attestation: str, summary_hash: str
) -> ReviewCycle:
    """Lock the cycle with the approver's attestation. `summary_hash` is the digest of the
    sign-off summary they read (summary.sign_off_summary): without it nothing is signed (the
    evidence pack would claim a summary nobody loaded), and when it no longer matches,
    Invalid names "summary"."""
    if not can(approver, Capability.SIGN_OFF):
        raise Forbidden("Only approvers sign off review cycles")
    text = attestation.strip()
    with transaction.atomic():
        cycle = ReviewCycle.objects.select_for_update().get(pk=cycle.pk)
        # Whether they may sign at all first: an incomplete request is not what stops them.
        check_may_sign_off(cycle=cycle, approver=approver)
        errors = {}
        if not text:
            errors["attestation"] = "Confirm the attestation text."
        elif len(text) < MIN_ATTESTATION_LENGTH:
            errors["attestation"] = (
                f"The attestation needs at least {MIN_ATTESTATION_LENGTH} characters (this one "
                f"has {len(text)}): state what you reviewed and that you stand by it."
            )
        if not summary_hash.strip():
            errors["summary_hash"] = SUMMARY_NOT_READ
        if errors:
            raise Invalid(errors)
        summary = sign_off_summary(cycle=cycle)
        if summary_hash.strip() != summary.digest:
            raise Invalid(
                {
                    "summary": "The cycle changed after you loaded this page: read the summary "
                    "again (it is updated below), then sign."
                }
            )
        current = population_hash(items=cycle.items.only("subject_key", "evidence_hash"))
        if current != cycle.population_hash:
            raise Forbidden(
                "The cycle's frozen population no longer matches its recorded hash; "
                "it cannot be signed off (see the audit log)"
            )
        cycle.state = ReviewCycle.State.SIGNED_OFF
        cycle.signed_off_by = approver
        cycle.signed_off_at = timezone.now()
        cycle.attestation = text
        cycle.signed_population_hash = current
        cycle.signed_summary_hash = summary.digest
        # The document itself, for the evidence pack: one computed later shows what changed
        # since (a remediation verified, a decider renamed), not what was signed.
        cycle.signed_summary = summary_document(summary=summary)
        cycle.save(
            update_fields=[
                "state",
                "signed_off_by",
                "signed_off_at",
                "attestation",
                "signed_population_hash",
                "signed_summary_hash",
                "signed_summary",
            ]
        )
        record(
            actor=approver,
            action="cycle.signed_off",
            target_type="review_cycle",
            target_id=cycle.pk,
            target_label=cycle.title,
            before={"state": "open"},
            after={
                "state": "signed_off",
                "attestation": cycle.attestation,
                "population_hash": current,
                "summary_hash": summary.digest,
                "no_response": len(summary.no_response),
            },
        )
    return cycle


def may_download_evidence(*, user: User, cycle: ReviewCycle) -> bool:
    """Auditors and administrators export any cycle; an approver the cycles they may sign off
    now, or signed off themselves."""
    if can(user, Capability.EXPORT):
        return True
    if not can(user, Capability.SIGN_OFF):
        return False
    if cycle.state == ReviewCycle.State.SIGNED_OFF:
        return cycle.signed_off_by_id == user.pk
    try:
        check_may_sign_off(cycle=cycle, approver=user)
    except Forbidden:
        return False
    return True
