"""Prometheus metrics at /metrics: collection freshness, runs, queue, findings, cycles, digests.
Reads across concerns with a fixed number of queries; nothing imports it but the URL conf."""
