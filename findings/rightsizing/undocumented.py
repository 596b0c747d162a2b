"""A policy attached to a principal whose document iamreview does not know.

An authorization-details file imported with ``--filter`` names attached managed policies
without their documents (the run says "what they grant is not judged"). Such a policy is
carried as this marker, not left out: a suggestion names it as not judged, and a remediation
plan is never verified while it is attached (what cannot be shown covered counts as beyond).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UndocumentedPolicy:
    name: str
    ref: str  # the managed policy's ARN (or an inline policy's name)
    kind: str  # "inline", "managed" or "group", as GrantedPolicy's
    group: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} (group {self.group})" if self.group else self.name
