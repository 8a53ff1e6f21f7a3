from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from jiedao.cases import views as cases_views

from .api import api

urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url="/static/web/favicon.svg", permanent=True)),
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain"), name="healthz"),
    path("api/docs", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("jiedao.web.urls")),
    path("people/", include("jiedao.people.urls")),
    path("cases/", include("jiedao.cases.urls")),
    path("open311/v2/", include("jiedao.cases.open311_urls")),
    path("inspections/", include("jiedao.inspections.urls")),
    path("streets/", include("jiedao.streets.urls")),
    path("report/", cases_views.public_report, name="public_report"),
    path("report/<str:token>/", cases_views.public_status, name="public_report_status"),
    path("report/<str:token>/photos/<int:photo_id>", cases_views.public_photo, name="public_report_photo"),
]
