"""Tables as CSV and JSON for downloads and the command line, safe against formula injection.
Imports nothing of findings."""
