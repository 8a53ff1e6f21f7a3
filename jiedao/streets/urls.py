from django.urls import path

from . import views

app_name = "streets"
urlpatterns = [
    path("roads/", views.roads, name="roads"),
    path("roads/<int:road_id>/", views.road_detail, name="road"),
    path("rivers/", views.rivers, name="rivers"),
    path("rivers/<int:river_id>/", views.river_detail, name="river"),
    path("drone-photos/<int:photo_id>/mark/", views.drone_mark, name="drone_mark"),
    path("drone-photos/<int:photo_id>/<str:variant>", views.drone_photo, name="drone_photo"),
    path("projects/", views.projects, name="projects"),
    path("projects/<int:project_id>/", views.project_detail, name="project"),
    path("project-photos/<int:photo_id>/<str:variant>", views.project_photo, name="project_photo"),
]
