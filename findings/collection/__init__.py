"""Accounts registry, runs, schedule, collectors, storage, file imports and their pages.
After a run it calls detection and remediation verification (reviews); nothing imports it but
notifications, pages above it, the demo and the commands."""
