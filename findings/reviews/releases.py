"""Per-release review cycles: one per application and version.

A release pipeline (or a reviewer, on the Review page) registers the roles an application
uses. While that version's cycle is open, registering it again gets the same cycle: unchanged
when it names the roles it named last (a retried pipeline step), else updated to the roles
named now, with the change in the answer and the audit trail. Once the version is signed off,
registering it again with the same roles (and notes) gets the signed-off cycle, and with
anything changed is refused: a release that changes anything needs a new version number.
"""

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from django.db import connection, transaction

from accounts.models import User
from accounts.permissions import Capability, can
from findings.audit.services import record
from findings.aws.session import is_role_arn
from findings.models import AuditEntry, AwsAccount, IamRole, ReviewCycle
from findings.reviews.evidence import ItemSpec, release_population
from findings.reviews.services import (
    Forbidden,
    Invalid,
    ReviewError,
    create_cycle,
    freeze_items,
    refresh_population,
)

# Any constant: serializes registrations, so that two at once see each other.
RELEASE_LOCK_ID = 7_311_202_613
# Roles one release may name: a pipeline lists what it ships, not an account's every role.
MAX_RELEASE_ROLE_ARNS = 1000
MAX_TITLE_LENGTH = ReviewCycle._meta.get_field("title").max_length


def release_title(*, application: str, version: str) -> str:
    """'Release <application> <version>'; when the longest application and version would not
    fit in a cycle's title, the application is cut short (…) there. Both stay whole in their
    own fields, which is what releases are found by."""
    title = f"Release {application} {version}"
    if len(title) <= MAX_TITLE_LENGTH:
        return title
    room = MAX_TITLE_LENGTH - len(f"Release … {version}")
    return f"Release {application[:room]}… {version}"[:MAX_TITLE_LENGTH]


class ReleaseSignedOff(ReviewError):
    """This version of the application was reviewed and signed off: a change is a new version."""

    def __init__(self, cycle: ReviewCycle):
        self.cycle = cycle
        when = f", {cycle.signed_off_at:%Y-%m-%d}" if cycle.signed_off_at else ""
        super().__init__(
            f"{cycle.application} {cycle.version} was reviewed and signed off "
            f"(“{cycle.title}”, cycle #{cycle.pk}{when}) with other roles or notes than this "
            "registration names. A release that changes anything needs a new version number: "
            "register it under that version."
        )


def _some(arns: list[str], limit: int = 5) -> str:
    more = f" and {len(arns) - limit} more" if len(arns) > limit else ""
    return ", ".join(arns[:limit]) + more


@dataclass(frozen=True)
class ReleaseChanges:
    """How a registration of a release still in review differs from what its cycle holds."""

    # Known roles named now and not before, frozen into the cycle now.
    added: list[str] = field(default_factory=list)
    # Named now, not by the last registration, and held by the cycle already (named earlier).
    named_again: list[str] = field(default_factory=list)
    # Named before, not now: their items stay (frozen, perhaps decided), still reviewed.
    no_longer_named: list[str] = field(default_factory=list)
    # Named now, held by no collected account: reported as not reviewed.
    unknown_added: list[str] = field(default_factory=list)
    # Reported before as not reviewed, and no longer (not named now, or now known: added).
    unknown_dropped: list[str] = field(default_factory=list)
    # The registration's notes differ from the cycle's, which now shows them.
    notes_changed: bool = False

    def __bool__(self) -> bool:
        return any(
            (
                self.added,
                self.named_again,
                self.no_longer_named,
                self.unknown_added,
                self.unknown_dropped,
                self.notes_changed,
            )
        )

    def describe(self) -> str:
        """The changes in a sentence, for a person."""

        def roles(arns: list[str]) -> str:
            return f"{len(arns)} role{'s' if len(arns) != 1 else ''}"

        parts = []
        if self.added:
            parts.append(f"{roles(self.added)} added to the review ({_some(self.added)})")
        if self.named_again:
            parts.append(
                f"{roles(self.named_again)} named again, already in the review "
                f"({_some(self.named_again)})"
            )
        if self.no_longer_named:
            parts.append(
                f"{roles(self.no_longer_named)} no longer named, still reviewed in this cycle "
                f"({_some(self.no_longer_named)})"
            )
        if self.unknown_added:
            parts.append(
                f"{roles(self.unknown_added)} named that no collected account holds, so not "
                f"reviewed ({_some(self.unknown_added)})"
            )
        if self.unknown_dropped:
            parts.append(
                f"{roles(self.unknown_dropped)} no longer reported as not reviewed "
                f"({_some(self.unknown_dropped)})"
            )
        if self.notes_changed:
            parts.append("the release notes replaced")
        return "; ".join(parts)

    def as_record(self) -> dict[str, list[str]]:
        return {
            "added_role_arns": self.added,
            "named_again_role_arns": self.named_again,
            "no_longer_named_role_arns": self.no_longer_named,
            "unknown_role_arns_added": self.unknown_added,
            "unknown_role_arns_dropped": self.unknown_dropped,
            "notes_changed": self.notes_changed,
        }


class ReleaseRegistration(NamedTuple):
    cycle: ReviewCycle
    # False: the release was in review already (`changes` says what this registration
    # changed), or signed off with what it names now (the cycle says so; no changes).
    created: bool
    changes: ReleaseChanges


def open_release_cycle(
    *, application: str, version: str, role_arns: list[str], notes: str, opened_by: User
) -> ReleaseRegistration:
    """The release's review cycle. One per application and version: while it is open, the
    release sent again (a pipeline's retry, a form sent twice) gets that cycle, unchanged when
    it names the same roles, else updated (update_release_cycle) and the change recorded. Once
    it is signed off, the same registration (the roles it named last, its notes or none) gets
    the signed-off cycle, unchanged; any other is ReleaseSignedOff: a release that changes
    needs a new version. A lock makes two requests at the same moment open one cycle."""
    if not (can(opened_by, Capability.MANAGE_ACCOUNTS) or can(opened_by, Capability.DECIDE)):
        raise Forbidden("Releases are registered by administrators, reviewers or their pipelines")
    errors = {}
    if not application.strip():
        errors["application"] = "Name the application."
    if not version.strip():
        errors["version"] = "Give the version that shipped."
    if not role_arns or not any(arn.strip() for arn in role_arns):
        errors["role_arns"] = "List at least one role ARN."
    elif len(role_arns) > MAX_RELEASE_ROLE_ARNS:
        errors["role_arns"] = (
            f"List at most {MAX_RELEASE_ROLE_ARNS} role ARNs per release (this lists "
            f"{len(role_arns)})."
        )
    elif malformed := [arn.strip() for arn in role_arns if arn.strip() and not is_role_arn(arn)]:
        # A typo is no unknown role to report later: it is refused, named.
        shown = ", ".join(repr(arn[:100]) for arn in malformed[:5])
        more = f" and {len(malformed) - 5} more" if len(malformed) > 5 else ""
        errors["role_arns"] = (
            f"Not a role ARN (arn:aws:iam::123456789012:role/name): {shown}{more}."
        )
    if errors:
        raise Invalid(errors)
    specs, unknown = release_population(role_arns=role_arns)
    accounts = sorted({spec.account.pk for spec in specs})
    application, version = application.strip()[:200], version.strip()[:100]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RELEASE_LOCK_ID])
        # "Checkout" and "checkout" are one application (its cycle keeps the first spelling).
        same_release = ReviewCycle.objects.filter(
            kind=ReviewCycle.Kind.RELEASE, application__iexact=application, version=version
        )
        # Locked as signing off locks it: a cycle signed off meanwhile gains no item.
        in_review = (
            same_release.filter(state=ReviewCycle.State.OPEN)
            .select_for_update()
            .order_by("-opened_at")
            .first()
        )
        if in_review is None:
            signed = (
                same_release.filter(state=ReviewCycle.State.SIGNED_OFF)
                .order_by("-signed_off_at")
                .first()
            )
            if signed is not None:
                named_now = {spec.subject_arn for spec in specs} | set(unknown)
                notes_kept = not notes.strip() or notes.strip() == signed.notes
                if named_now == named_by_release(cycle=signed) and notes_kept:
                    # A pipeline re-run after approval: what was signed off, nothing written.
                    return ReleaseRegistration(signed, False, ReleaseChanges())
                raise ReleaseSignedOff(signed)
        # A role gone from the inventory is still reviewed by the open cycle that holds its
        # item: a retry naming only such roles gets that cycle.
        if not specs and not (
            in_review is not None
            and in_review.items.filter(subject_type="role", subject_arn__in=unknown).exists()
        ):
            # An empty cycle could be signed off at once and prove nothing.
            raise Invalid(
                {
                    "role_arns": "None of these roles is known to iamreview (collect the "
                    "accounts first, or check the ARNs): " + ", ".join(unknown)
                }
            )
        if in_review is not None:
            changes = update_release_cycle(
                cycle=in_review, specs=specs, unknown=unknown, actor=opened_by
            )
            if _take_new_notes(cycle=in_review, notes=notes.strip(), actor=opened_by):
                changes = replace(changes, notes_changed=True)
            return ReleaseRegistration(in_review, False, changes)
        cycle = create_cycle(
            kind=ReviewCycle.Kind.RELEASE,
            title=release_title(application=application, version=version),
            specs=specs,
            accounts=list(AwsAccount.objects.filter(pk__in=accounts)),
            opened_by=opened_by,
            application=application,
            version=version,
            notes=notes.strip(),
            unknown_role_arns=unknown,
        )
        return ReleaseRegistration(cycle, True, ReleaseChanges())


def _take_new_notes(*, cycle: ReviewCycle, notes: str, actor: User) -> bool:
    """A registration's notes replace the cycle's when they differ (they were silently kept
    as first sent); none sent (a retry without them) leaves them. Audited."""
    if not notes or notes == cycle.notes:
        return False
    record(
        actor=actor,
        action="cycle.release_notes_changed",
        target_type="review_cycle",
        target_id=cycle.pk,
        target_label=cycle.title,
        before={"notes": cycle.notes},
        after={"notes": notes},
    )
    ReviewCycle.objects.filter(pk=cycle.pk).update(notes=notes)
    cycle.notes = notes
    return True


def named_by_release(*, cycle: ReviewCycle) -> set[str]:
    """Every role ARN the release's latest registration named: as its last update recorded
    them, else (never updated) its roles' items and the ARNs it reported unknown."""
    last = (
        AuditEntry.objects.filter(
            action="cycle.release_updated", target_type="review_cycle", target_id=str(cycle.pk)
        )
        .order_by("-id")
        .values_list("after", flat=True)
        .first()
    )
    if last is not None:
        return set(last["role_arns"])
    # Items of accepted risks that came back to this cycle were not named by the release.
    items = cycle.items.filter(follows_item=None).values_list("subject_arn", flat=True)
    return set(items) | set(cycle.unknown_role_arns or [])


def update_release_cycle(
    *, cycle: ReviewCycle, specs: list[ItemSpec], unknown: list[str], actor: User | None
) -> ReleaseChanges:
    """Bring an open release cycle to the roles a registration names now: known roles it does
    not hold join its population (frozen now), its unknown ARNs become those named now that it
    holds no item for, and roles no longer named keep their items (frozen evidence is never
    taken back). Nothing is written when the registration names what the last one named;
    otherwise the change is audited (with the roles named, which the next registration is
    compared with; actor None: iamreview, for roles collected since, take_in_collected_roles).
    The caller holds the lock."""
    named_before = named_by_release(cycle=cycle)
    held = set(cycle.items.values_list("subject_key", flat=True))
    joining = [spec for spec in specs if spec.subject_key not in held]
    # A role gone from the inventory since its item was frozen is unknown to collection, yet
    # reviewed in this cycle: held, not reported as not reviewed.
    held_roles = set(cycle.items.filter(subject_type="role").values_list("subject_arn", flat=True))
    known = [spec.subject_arn for spec in specs] + [arn for arn in unknown if arn in held_roles]
    unknown = [arn for arn in unknown if arn not in held_roles]
    named_now = [*known, *unknown]
    unknown_before = list(cycle.unknown_role_arns or [])
    joined = {spec.subject_arn for spec in joining}
    changes = ReleaseChanges(
        added=[arn for arn in known if arn in joined],
        named_again=[arn for arn in known if arn not in named_before and arn not in joined],
        no_longer_named=sorted(
            arn for arn in named_before if arn not in named_now and arn not in unknown_before
        ),
        unknown_added=[arn for arn in unknown if arn not in unknown_before],
        unknown_dropped=[arn for arn in unknown_before if arn not in unknown],
    )
    if not changes:
        return changes
    before = {
        "role_arns": sorted(named_before),
        "unknown_role_arns": unknown_before,
        "items": cycle.population_count,
        "population_hash": cycle.population_hash,
    }
    if joining:
        freeze_items(cycle=cycle, specs=joining)
        cycle.scope_accounts.add(*{spec.account.pk for spec in joining})
    ReviewCycle.objects.filter(pk=cycle.pk).update(unknown_role_arns=unknown)
    # Checked first: when the items held already no longer make up the recorded hash, it is
    # kept (and the mismatch audited) rather than recomputed over edited evidence.
    refreshed = refresh_population(
        cycle=cycle, joining={spec.subject_key for spec in joining}, actor=actor
    )
    cycle.refresh_from_db(fields=["unknown_role_arns", "population_hash", "population_count"])
    record(
        actor=actor,
        action="cycle.release_updated",
        target_type="review_cycle",
        target_id=cycle.pk,
        target_label=cycle.title,
        before=before,
        after={
            "role_arns": sorted(named_now),
            **changes.as_record(),
            "unknown_role_arns": unknown,
            "items": cycle.population_count,
            "population_hash": cycle.population_hash,
            "population_refreshed": refreshed,
        },
    )
    return changes


def _account_id_of(arn: str) -> str:
    """The account id of an ARN (arn:partition:iam::123456789012:role/name)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def take_in_collected_roles(*, account: AwsAccount) -> list[ReviewCycle]:
    """Roles an open release cycle named before any collection held them (its unknown ARNs)
    that this account's inventory now holds join that cycle, frozen now, as a registration
    naming them again would (update_release_cycle: population refreshed, audited): they are
    then reviewed before it is signed off, not reported for ever as held by no account. Run
    after the account's detection; one query when no open release cycle waits for a role of
    this account. Returns the cycles that took roles in."""
    waiting = {
        pk: [arn for arn in arns if _account_id_of(arn) == account.account_id]
        for pk, arns in ReviewCycle.objects.filter(
            kind=ReviewCycle.Kind.RELEASE, state=ReviewCycle.State.OPEN
        )
        .exclude(unknown_role_arns=[])
        .values_list("pk", "unknown_role_arns")
    }
    wanted = {arn for arns in waiting.values() for arn in arns}
    if not wanted:
        return []
    collected = set(
        IamRole.objects.filter(account=account, arn__in=wanted, gone_at=None).values_list(
            "arn", flat=True
        )
    )
    if not collected:
        return []
    joined = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RELEASE_LOCK_ID])
        # Locked as signing off locks it, and read again: a registration or a sign-off may have
        # come between.
        cycles = (
            ReviewCycle.objects.filter(
                pk__in=[pk for pk, arns in waiting.items() if collected.intersection(arns)],
                state=ReviewCycle.State.OPEN,
            )
            .select_for_update()
            .order_by("pk")
        )
        for cycle in cycles:
            specs, _ = release_population(
                role_arns=[arn for arn in cycle.unknown_role_arns if arn in collected]
            )
            if not specs:
                continue
            # The rest of what the release named, as update_release_cycle reads it: roles the
            # cycle holds stay held, those no account holds stay unknown.
            rest = named_by_release(cycle=cycle) - {spec.subject_arn for spec in specs}
            update_release_cycle(cycle=cycle, specs=specs, unknown=sorted(rest), actor=None)
            joined.append(cycle)
    return joined
