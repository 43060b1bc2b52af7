from django.apps import AppConfig


class QueueAdminConfig(AppConfig):
    name = "queueadmin"
    verbose_name = "Queue administration"
    default_auto_field = "django.db.models.BigAutoField"
