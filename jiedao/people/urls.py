from django.urls import path

from . import views

app_name = "people"
urlpatterns = [
    path("", views.person_list, name="list"),
    path("new/", views.person_new, name="new"),
    path("import/", views.person_import_view, name="import"),
    path("template.xlsx", views.import_template, name="template"),
    path("export.xlsx", views.export, name="export"),
    path("<int:person_id>/", views.person_detail, name="detail"),
    path("<int:person_id>/edit/", views.person_edit, name="edit"),
    path("<int:person_id>/reveal/", views.person_reveal_view, name="reveal"),
]
