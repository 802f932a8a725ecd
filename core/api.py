"""The REST API's shared parts: JSON errors, the serializer for domain refusals, the URL routes.

The API is one more interface over the services and access functions: no business rule here.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .dataset_guard import DatasetLocked
from .errors import DomainError, EditConflict, NotPermitted

ErrorSerializer = inline_serializer(
    "Error",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False),
    },
)
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input or refused by a trial rule"),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired token"),
    403: OpenApiResponse(ErrorSerializer, description="Your role may not do this"),
    404: OpenApiResponse(ErrorSerializer, description="Not found, or outside your sites"),
    429: OpenApiResponse(ErrorSerializer, description="Rate limit exceeded: see Retry-After"),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Someone saved a newer version first")}


def error_response(code: str, message: str, http_status: int, fields: dict | None = None) -> Response:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response(body, status=http_status)


def domain_error_response(exc: DomainError) -> Response:
    if isinstance(exc, EditConflict | DatasetLocked):
        return error_response(exc.code, exc.message, status.HTTP_409_CONFLICT)
    if isinstance(exc, NotPermitted):
        return error_response(exc.code, exc.message, status.HTTP_403_FORBIDDEN)
    errors = getattr(exc, "errors", None)
    if errors:
        fields: dict[str, list[str]] = {}
        for field, message in errors:
            fields.setdefault(field or "non_field_errors", []).append(message)
        return error_response(exc.code, exc.message, status.HTTP_400_BAD_REQUEST, fields)
    fields = {exc.field: [exc.message]} if exc.field else None
    return error_response(exc.code, exc.message, status.HTTP_400_BAD_REQUEST, fields)


def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/: the API's JSON error, never the HTML 404 page."""
    return JsonResponse({"code": "not_found", "message": "Not found."}, status=404)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        return error_response("not_found", "Not found.", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
        response.data = {"code": "invalid", "message": "Check the fields.", "fields": fields}
    else:
        code = getattr(exc, "default_code", "error")
        response.data = {"code": str(code), "message": str(getattr(exc, "detail", exc))}
    return response
