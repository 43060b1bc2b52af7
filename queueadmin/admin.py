from django.contrib import admin, messages

from queueadmin.models import ApiToken, JobRecord


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
