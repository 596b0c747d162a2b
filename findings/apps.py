from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "findings"
    verbose_name = "Findings and reviews"

    def ready(self) -> None:
        from findings.reviews.caches import connect_cache_signals
        from iamreview import checks  # noqa: F401  (registers the system checks)

        connect_cache_signals()
