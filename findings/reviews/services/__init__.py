"""Review cycles: open, decide, delegate, sign off, verify remediation, bring back expired risk.

Every rule that matters to an auditor (segregation of duties, append-only decisions, locking
after sign-off) is enforced here, whatever the caller: web page, htmx request or API.

One module per responsibility, each importing only those above it in this list:
errors and rules (shared), deferred_detection, opening, deciding, bulk, assignment,
sign_off, follow_ups. Callers import from the package, which names everything they use.
"""

from findings.reviews.services.assignment import (
    assign_items,
    hand_back_items,
    items_to_hand_back,
    reviewer_choices,
)
from findings.reviews.services.bulk import bulk_decide
from findings.reviews.services.deciding import DecisionInput, check_may_decide, decide_item
from findings.reviews.services.deferred_detection import detect_after_commit
from findings.reviews.services.errors import (
    AlreadyOpen,
    Conflict,
    Forbidden,
    Invalid,
    ReviewError,
)
from findings.reviews.services.follow_ups import (
    expire_risk_acceptances,
    mark_no_response,
    verify_remediations,
)
from findings.reviews.services.opening import (
    check_population,
    create_cycle,
    freeze_items,
    open_cycle,
    open_cycle_by_hand,
    open_period_cycle,
    open_scheduled_cycles,
    period_of,
    population_for,
    refresh_population,
)
from findings.reviews.services.rules import (
    DEFAULT_ATTESTATION,
    DEFAULT_RISK_ACCEPTANCE_DAYS,
    MAX_COMMENT_LENGTH,
    MIN_ATTESTATION_LENGTH,
    MIN_SERIOUS_JUSTIFICATION_LENGTH,
    default_risk_expiry,
    one_year_after,
)
from findings.reviews.services.sign_off import (
    check_may_sign_off,
    may_download_evidence,
    sign_off_cycle,
)

__all__ = [
    "DEFAULT_ATTESTATION",
    "DEFAULT_RISK_ACCEPTANCE_DAYS",
    "MAX_COMMENT_LENGTH",
    "MIN_ATTESTATION_LENGTH",
    "MIN_SERIOUS_JUSTIFICATION_LENGTH",
    "AlreadyOpen",
    "Conflict",
    "DecisionInput",
    "Forbidden",
    "Invalid",
    "ReviewError",
    "assign_items",
    "bulk_decide",
    "check_may_decide",
    "check_may_sign_off",
    "check_population",
    "create_cycle",
    "decide_item",
    "default_risk_expiry",
    "detect_after_commit",
    "expire_risk_acceptances",
    "freeze_items",
    "hand_back_items",
    "items_to_hand_back",
    "mark_no_response",
    "may_download_evidence",
    "one_year_after",
    "open_cycle",
    "open_cycle_by_hand",
    "open_period_cycle",
    "open_scheduled_cycles",
    "period_of",
    "population_for",
    "refresh_population",
    "reviewer_choices",
    "sign_off_cycle",
    "verify_remediations",
]
