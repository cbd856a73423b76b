from django.apps import AppConfig


class AlertsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"

    def ready(self) -> None:
        # A store's active poll resolves its open incident in the poll's own request.
        from . import receivers  # noqa: F401
