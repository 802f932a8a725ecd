from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS
from core.policy import Action, require
from crf.models import DatasetLock

from .access import access_generated_file
from .dataset import export_subject
from .models import GeneratedFile
from .services import generated_file_request


class ExportSerializer(serializers.ModelSerializer):
    class Meta:
        model = GeneratedFile
        fields = ["id", "subject", "status", "progress", "filename", "sha256", "size", "requested_at", "finished_at"]


def _require_dm(user):
    require(user, Action.EXPORT)


class ExportList(APIView):
    @extend_schema(responses={200: ExportSerializer(many=True), **ERRORS}, summary="Dataset exports")
    def get(self, request):
        _require_dm(request.user)
        exports = GeneratedFile.objects.visible_to(request.user).filter(kind=GeneratedFile.Kind.DATASET_EXPORT)
        return Response(ExportSerializer(exports.order_by("-pk")[:100], many=True).data)

    @extend_schema(
        request=None,
        responses={202: ExportSerializer, **ERRORS},
        summary="Start an export of the current lock (or a labelled 'not locked' one) in the background",
    )
    def post(self, request):
        _require_dm(request.user)
        generated = generated_file_request(
            kind=GeneratedFile.Kind.DATASET_EXPORT,
            actor=request.user,
            subject=export_subject(DatasetLock.current()),
        )
        generated.refresh_from_db()
        return Response(ExportSerializer(generated).data, status=status.HTTP_202_ACCEPTED)


class ExportDetail(APIView):
    @extend_schema(responses={200: ExportSerializer, **ERRORS}, summary="Status of an export")
    def get(self, request, export_id):
        _require_dm(request.user)
        generated = access_generated_file(user=request.user, file_id=export_id)
        if generated.kind != GeneratedFile.Kind.DATASET_EXPORT:
            raise Http404
        return Response(ExportSerializer(generated).data)


class ExportDownload(APIView):
    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="the zip"), **ERRORS},
        summary="Download a finished export",
    )
    def get(self, request, export_id):
        _require_dm(request.user)
        generated = access_generated_file(user=request.user, file_id=export_id)
        if generated.kind != GeneratedFile.Kind.DATASET_EXPORT or generated.status != GeneratedFile.Status.DONE:
            raise Http404
        return FileResponse(generated.file.open("rb"), as_attachment=True, filename=generated.filename)
