"""From evidence to findings: checks, detection, exclusions, findings pages.
May import policy, audit, inventory, models and aws; never collection, reviews or anything above."""
