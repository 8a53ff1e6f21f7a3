from django.urls import path

from . import views

app_name = "inspections"
urlpatterns = [
    path("", views.home, name="home"),
    path("do/", views.do, name="do"),
    path("plans/", views.plans, name="plans"),
    path("coverage/", views.coverage, name="coverage"),
    path("scores/", views.scores_view, name="scores"),
    path("findings/", views.findings, name="findings"),
    path("findings.json", views.findings_json, name="findings_json"),
    path("<int:inspection_id>/", views.detail, name="detail"),
    path("photos/<int:photo_id>/<str:variant>", views.photo, name="photo"),
]
