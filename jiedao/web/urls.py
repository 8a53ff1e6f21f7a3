from django.urls import path

from . import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/<str:action>/", views.alert_action, name="alert_action"),
    path("audit/", views.audit, name="audit"),
    path("audit/export.xlsx", views.audit_export_view, name="audit_export"),
    path("inbox/", views.inbox, name="inbox"),
    path("security/lockouts/", views.lockouts, name="lockouts"),
]
