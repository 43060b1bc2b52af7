"""Django admin: queue overview, job records, dead letters, API tokens, audit log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property

from queueadmin import cancellation, deadletters, health, pausing, stats
from queueadmin.audit import Operator, audited
from queueadmin.chart import render_throughput_chart
from queueadmin.controlerrors import JobNotFoundError, JobStateError
from queueadmin.models import (
    ApiToken,
    AuditEntry,
    DeadLetter,
    JobRecord,
    QueueOverview,
    Schedule,
)
from queueadmin.queues import QUEUES, UnknownQueueError
from queueadmin.records import flush_job_events


class CappedCountPaginator(Paginator):
    """Count at most ``MAX_COUNT + 1`` rows, so a page never counts the whole table.

    Pages past ``MAX_COUNT`` rows are not reachable; filters narrow the list.
    """

    MAX_COUNT = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.MAX_COUNT + 1].count()


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [(name, name) for name in QUEUES]

    def queryset(self, request, queryset):
        return queryset.filter(queue=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    """Actors declared on the broker; no ``DISTINCT`` over the records."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        import dramatiq

        return [(name, name) for name in sorted(dramatiq.get_broker().get_declared_actors())]

    def queryset(self, request, queryset):
        return queryset.filter(actor=self.value()) if self.value() else queryset


def _operator(request: HttpRequest) -> Operator:
    return Operator(request.user.get_username(), "admin")


class JobRecordAdmin(admin.ModelAdmin):
    list_display = (
        "job_id", "actor", "queue", "status", "attempts", "progress", "enqueued_at",
        "finished_at",
    )
    list_filter = ("status", QueueFilter, ActorFilter)
    search_fields = ("job_id", "correlation_id", "idempotency_key")
    search_help_text = "Exact job id, correlation id or idempotency key."
    ordering = ("-id",)
    sortable_by = ()
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = ("retry_jobs", "cancel_jobs")
    readonly_fields = [field.name for field in JobRecord._meta.fields]

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        flush_job_events()
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # Exact, case-sensitive matches: the admin's "=" prefix compares with
        # UPPER(), which no index serves on a million rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(job_id=term) | Q(correlation_id=term) | Q(idempotency_key=term)
        return queryset.filter(matches), False

    def _run_each(self, request, queryset, action: str, function) -> None:
        done = 0
        for record in queryset[:1000]:
            try:
                with audited(_operator(request), action, record.job_id):
                    function(record.job_id)
                done += 1
            except (JobNotFoundError, JobStateError) as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{action}: {done} job(s).")

    @admin.action(description="Retry selected dead jobs with fresh attempts")
    def retry_jobs(self, request, queryset):
        self._run_each(request, queryset, "retry", deadletters.retry_dead_letter)

    @admin.action(description="Cancel selected waiting or delayed jobs")
    def cancel_jobs(self, request, queryset):
        self._run_each(request, queryset, "cancel", cancellation.cancel_job)


admin.site.register(JobRecord, JobRecordAdmin)


@admin.register(DeadLetter)
class DeadLetterAdmin(JobRecordAdmin):
    list_display = ("job_id", "actor", "queue", "attempts", "last_error", "finished_at")
    list_filter = (QueueFilter, ActorFilter)
    actions = ("retry_jobs", "purge")

    @admin.action(description="Delete selected dead letters")
    def purge(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True)[:1000])
        with audited(_operator(request), "purge-dead-letters", f"{len(ids)} jobs"):
            deleted = deadletters.delete_dead_letters(ids)
        self.message_user(request, f"Deleted {deleted} dead letter(s).")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "username", "channel", "action", "target", "outcome")
    list_filter = ("action", "outcome", "channel")
    search_fields = ("=username", "target")
    show_full_result_count = False
    paginator = CappedCountPaginator
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QueueOverview)
class QueueOverviewAdmin(admin.ModelAdmin):
    """The queue overview page, in place of a change list."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            return self._control(request)
        report = health.check_health()
        queue_metrics = stats.get_queue_metrics() if report.redis_reachable else {}
        rows = [
            {"name": name, "metrics": queue_metrics.get(name, {}), "health": report.queues.get(name)}
            for name in QUEUES
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Queue overview",
            "health": report,
            "rows": rows,
            "can_control": self.has_change_permission(request),
            "chart": render_throughput_chart(stats.get_chart_series(60))
            if report.redis_reachable
            else "",
            "generated_at": timezone.now(),
        }
        return TemplateResponse(request, "admin/queueadmin/queue_overview.html", context)

    def _control(self, request):
        if not self.has_change_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        action = request.POST.get("action", "")
        queue = request.POST.get("queue", "")
        handlers = {
            "pause": lambda: f"Paused {queue}." if pausing.pause_queue(queue)
            else f"{queue} was paused already.",
            "resume": lambda: f"Resumed {queue}." if pausing.resume_queue(queue)
            else f"{queue} was not paused.",
            "retry-dead": lambda: f"Sent {len(deadletters.retry_dead_letters(queue=queue))} "
            f"dead letters of {queue} again.",
            "pause-all": lambda: f"Paused: {', '.join(pausing.pause_all()) or 'no change'}.",
            "resume-all": lambda: f"Resumed: {', '.join(pausing.resume_all()) or 'no change'}.",
        }
        handler = handlers.get(action)
        if handler is None:
            self.message_user(request, f"Unknown action {action!r}.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        try:
            with audited(_operator(request), action, queue or "all queues"):
                if queue:
                    pausing.check_queue(queue)
                result = handler()
        except UnknownQueueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)
        self.message_user(request, result)
        return HttpResponseRedirect(request.path)


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
