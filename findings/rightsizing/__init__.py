"""Right-sizing: what a principal is granted and used, and the least-privilege policies to suggest.
May import detection, inventory, audit, models and aws; reviews, collection and pages sit above."""
