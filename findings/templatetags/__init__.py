"""Template filters for showing evidence (policies, credentials) readably.
An interface: may import selectors and policy reading; nothing in the domain imports it."""
