"""From evidence to findings: policy reading, checks, detection, exclusions, findings pages.
May import audit, inventory, models and aws; never collection, reviews or anything above."""
