"""Change detection for stored rows: equal values, whatever their key order, give equal prints."""

import hashlib
import json


def fingerprinted(values: dict) -> tuple[str, str]:
    """The values as canonical JSON (sorted keys, no spaces) and that text's fingerprint.

    Where the values are also stored as JSON (a finding's evidence), the text is what gets
    written: encoded once, not once for the print and again for the column."""
    encoded = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return encoded, hashlib.sha256(encoded.encode()).hexdigest()


def fingerprint(values: dict) -> str:
    return fingerprinted(values)[1]
