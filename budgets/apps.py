from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    verbose_name = "Budgets and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from budgets.scheduling import connect_receivers

        connect_receivers()
