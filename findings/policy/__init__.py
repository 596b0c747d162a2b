"""IAM policy semantics: reading documents, the action database, grants and effective permissions.
Pure: plain dicts and records in and out. May import models and aws; everything else sits above."""
