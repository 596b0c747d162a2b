"""Review cycles: populations and frozen evidence, decisions, sign-off, evidence packs, pages.
May import detection, audit, inventory, models; never collection, notifications or above."""
