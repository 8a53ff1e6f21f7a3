"""The one list of what may be reached without logging in."""

PUBLIC_PREFIXES = (
    "/accounts/login/",
    "/static/",
    "/healthz",
    "/i18n/",
    "/api/v1/auth/token",
    "/api/docs",
    "/api/v1/docs",
    "/api/v1/openapi.json",
    "/api/v1/alarms",  # devices sign each request (HMAC per source)
    "/open311/",  # Open311 GeoReport v2: public reads, api_key for POST
    "/report/",  # residents' public report page (rate-limited)
)


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) or path == "/favicon.ico"
