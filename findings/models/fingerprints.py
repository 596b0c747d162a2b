"""Change detection for stored rows: equal values, whatever their key order, give equal prints."""

import hashlib
import json


def fingerprint(values: dict) -> str:
    encoded = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
