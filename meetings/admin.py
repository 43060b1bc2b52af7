from django.contrib import admin

from meetings.models import Analysis, Meeting


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "status", "source", "created_at")
    list_filter = ("status", "source")
    search_fields = ("title",)
    readonly_fields = ("status", "failure_reason", "transcript_format", "created_at")


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = ("meeting", "word_count", "sentiment", "created_at")
