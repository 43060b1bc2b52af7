from django.contrib import admin, messages

from queueadmin.models import ApiToken, JobRecord, Schedule


@admin.register(JobRecord)
class JobRecordAdmin(admin.ModelAdmin):
    list_display = ("job_id", "actor", "queue", "status", "attempts", "enqueued_at", "finished_at")
    list_filter = ("status", "queue", "actor")
    search_fields = ("=job_id", "=correlation_id", "=idempotency_key")
    ordering = ("-id",)
    show_full_result_count = False
    readonly_fields = [field.name for field in JobRecord._meta.fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "scope", "key_prefix", "created_at", "expires_at", "revoked_at")
    list_filter = ("scope",)
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    actions = ("revoke",)

    def save_model(self, request, obj, form, change):
        if not change:
            raw_token = obj.set_new_key()
            messages.warning(
                request,
                f"Token created: {raw_token} — copy it now, it is not shown again.",
            )
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "actor",
        "cron",
        "timezone",
        "enabled",
        "next_runs",
        "last_run_at",
        "last_lag",
        "missed_count",
    )
    list_filter = ("enabled", "defined_in_code", "actor")
    search_fields = ("name", "actor")
    readonly_fields = (
        "defined_in_code",
        "next_runs",
        "last_fire_at",
        "last_run_at",
        "last_lag",
        "last_job_id",
        "missed_count",
        "last_missed_at",
    )
    _definition_fields = (
        "name", "actor", "arguments", "cron", "timezone", "misfire_policy", "grace_seconds"
    )

    def get_readonly_fields(self, request, obj=None):
        # Schedules declared in code are rewritten by each scheduler start, so
        # only their enabled flag is edited here.
        if obj is not None and obj.defined_in_code:
            return (*self._definition_fields, *self.readonly_fields)
        return self.readonly_fields

    @admin.display(description="Next runs (UTC)")
    def next_runs(self, obj: Schedule) -> str:
        from queueadmin.crontab import InvalidCronError
        from queueadmin.firing import get_next_runs

        try:
            runs = get_next_runs(obj)
        except InvalidCronError as exc:
            return str(exc)
        return ", ".join(run.strftime("%Y-%m-%d %H:%M:%S") for run in runs) or "-"

    @admin.display(description="Last lag (s)")
    def last_lag(self, obj: Schedule) -> str:
        return "-" if obj.last_lag_seconds is None else f"{obj.last_lag_seconds:.3f}"
