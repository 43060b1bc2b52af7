"""URLs used only by the tests."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from tests.testapp.tasks import child_job


def enqueue_child(request: HttpRequest) -> JsonResponse:
    """Enqueue ``child_job`` and return its id, as an API view would."""
    return JsonResponse({"job_id": child_job.enqueue(key="from-request")})


urlpatterns = [path("enqueue/", enqueue_child)]
