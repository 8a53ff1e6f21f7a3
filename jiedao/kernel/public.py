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
)


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) or path == "/favicon.ico"
