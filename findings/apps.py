from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "findings"
    verbose_name = "Findings and reviews"

    def ready(self) -> None:
        from findings.reviews.services import connect_reviewer_signals
        from iamreview import checks  # noqa: F401  (registers the system checks)

        connect_reviewer_signals()
