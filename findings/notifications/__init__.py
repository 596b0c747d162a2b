"""Scheduled email digests (and what comes next: reminders, webhooks).
May import every domain package (collection status, reviews, findings); no pages import it."""
