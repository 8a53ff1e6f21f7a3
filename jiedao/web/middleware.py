"""Maps domain errors raised in page views to error pages (the API maps them in jiedao/api.py)."""

from django.shortcuts import render

from jiedao.kernel.audit import audit_record
from jiedao.kernel.exceptions import DomainError, NotFound, PermissionDeniedError


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if isinstance(exc, PermissionDeniedError):
            audit_record(actor=exc.actor or request.user, action="authz.denied", obj=exc.obj, outcome="denied",
                         changes={"capability": [None, exc.capability], "path": [None, request.path[:150]]})
            return render(request, "web/error.html", {"status": 403, "message": exc.message}, status=403)
        if isinstance(exc, NotFound):
            return render(request, "web/error.html", {"status": 404, "message": "页面或对象不存在。"}, status=404)
        if isinstance(exc, DomainError):
            return render(request, "web/error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
        return None
