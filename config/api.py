"""The REST API: one NinjaAPI with a router per app."""

from __future__ import annotations

from ninja import NinjaAPI

from meetings.api import router as meetings_router

api = NinjaAPI(
    title="Meetingflow API",
    version="1.0",
    description="Submit meeting transcripts and follow their processing jobs.",
    urls_namespace="api",
)
api.add_router("/meetings", meetings_router)
