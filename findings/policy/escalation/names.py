"""Names of targets yet to be created: what a grant's pattern (`policy/team-*`) lets the
principal create in this account, its wildcards filled in, for the checks to ask `decide` of."""

from __future__ import annotations

import re

from findings.policy.effective import WILDCARDS

NEW_NAME = "iamreview-new"
# The marks of characters a pattern escapes (`${*}`) and of values not known here.
_ESCAPED = re.compile("[\ue000-\ue004]")


def in_account(*, pattern: str, account_id: str) -> str:
    """The pattern with a "*" account field read as the account itself: for the account's own
    targets the two name the same ones."""
    parts = pattern.split(":", 5)
    if len(parts) == 6 and parts[4] == "*":
        parts[4] = account_id
    return ":".join(parts)


def made_up_name(*, pattern: str, kind: str, account_id: str, placeholder: str) -> str | None:
    """A name in this account that the pattern names, its wildcards filled in; None when the
    pattern is of another kind or account, or holds a character IAM escapes. `placeholder` is
    the account's name for a target yet to be created (its partition is the one used where the
    pattern's partition is a wildcard)."""
    parts = in_account(pattern=pattern, account_id=account_id).split(":", 5)
    if len(parts) != 6 or parts[4] != account_id or _ESCAPED.search(pattern):
        return None
    parts[1] = placeholder.split(":")[1] if WILDCARDS.search(parts[1]) else parts[1]
    if parts[2] != "iam" or not parts[5].startswith(f"{kind}/"):
        return None
    return ":".join(parts).replace("*", NEW_NAME).replace("?", "x")
