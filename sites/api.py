from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS

from .models import Site


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["code", "name", "country", "timezone", "status", "recruitment_target", "activated_at"]


class SiteList(APIView):
    @extend_schema(responses={200: SiteSerializer(many=True), **ERRORS}, summary="Sites you can see")
    def get(self, request):
        return Response(SiteSerializer(Site.objects.visible_to(request.user).order_by("code"), many=True).data)
