from django.urls import re_path

from . import open311

FMT = r"\.(?P<fmt>[a-z]+)"
urlpatterns = [
    re_path(r"^media/(?P<signed>[^/]+)\.jpg$", open311.media, name="open311_media"),
    re_path(rf"^discovery{FMT}$", open311.discovery, name="open311_discovery"),
    re_path(rf"^services{FMT}$", open311.services, name="open311_services"),
    re_path(rf"^services/(?P<code>[^/.]+){FMT}$", open311.service_definition, name="open311_service"),
    re_path(rf"^requests{FMT}$", open311.requests_view, name="open311_requests"),
    re_path(rf"^requests/(?P<request_id>[^/.]+){FMT}$", open311.request_detail, name="open311_request"),
    re_path(rf"^tokens/(?P<token>[^/.]+){FMT}$", open311.token_detail, name="open311_token"),
    re_path(r"^(?P<path>.*)$", open311.not_found),
]
