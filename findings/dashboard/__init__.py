"""The dashboard page: findings by severity, trend, cycles in progress, collection health.
Reads across concerns through their selectors; nothing imports it but the URL conf."""
