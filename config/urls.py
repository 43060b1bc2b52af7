from django.contrib import admin
from django.urls import path

from config.api import api
from queueadmin.liveness import liveness
from queueadmin.prometheus import prometheus_metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("livez", liveness, name="liveness"),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
]
