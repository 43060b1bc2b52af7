"""The REST API: one NinjaAPI with a router per app."""

from __future__ import annotations

from ninja import NinjaAPI

from meetings.api import router as meetings_router
from queueadmin.api import router as queues_router
from queueadmin.auth import staff_required

api = NinjaAPI(
    title="Meetingflow API",
    version="1.0",
    description="Submit meeting transcripts and follow their processing jobs.",
    urls_namespace="api",
    # The docs page and the OpenAPI document are for staff only.
    docs_decorator=staff_required,
)
api.add_router("/meetings", meetings_router)
api.add_router("/queues", queues_router)
