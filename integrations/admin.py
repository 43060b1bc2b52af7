from django.contrib import admin

from integrations.models import ExternalSync


@admin.register(ExternalSync)
class ExternalSyncAdmin(admin.ModelAdmin):
    list_display = ("meeting", "target", "status", "external_id", "updated_at")
    list_filter = ("target", "status")
    search_fields = ("external_id", "meeting__title")
    raw_id_fields = ("meeting",)
