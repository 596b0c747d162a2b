"""Right-sizing: what a principal is granted and used, and the least-privilege policies to suggest.
May import detection, policy, inventory, audit, models and aws; reviews, collection, pages above."""
