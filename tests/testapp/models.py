from django.db import models


class Execution(models.Model):
    """One run of a test actor, so tests can count side effects."""

    key = models.CharField(max_length=100, db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
