"""Who is in each account now: users and roles with their credentials, and their pages.
Selectors may import models and aws (report constants); views sit on top."""
