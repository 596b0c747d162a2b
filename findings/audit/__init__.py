"""The append-only, hash-chained audit log: recording an entry and verifying the chain.
May import models."""
