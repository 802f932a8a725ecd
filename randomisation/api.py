from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS
from patients.access import access_patient

from .services import patient_randomise


class AllocationSerializer(serializers.Serializer):
    trial_number = serializers.CharField(source="patient.trial_number")
    arm = serializers.CharField()
    arm_label = serializers.CharField(source="get_arm_display")
    randomised_at = serializers.DateTimeField()
    stratum = serializers.CharField()
    late_reason = serializers.CharField()


class RandomiseInSerializer(serializers.Serializer):
    late_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Required later than 10 weeks after liver resection: the protocol deviation's reason",
    )


class PatientRandomise(APIView):
    @extend_schema(
        request=RandomiseInSerializer,
        responses={200: AllocationSerializer, **ERRORS},
        summary="Randomise (idempotent: a repeat returns the same allocation)",
    )
    def post(self, request, trial_number):
        patient = access_patient(user=request.user, trial_number=trial_number)
        body = RandomiseInSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        allocation = patient_randomise(
            patient=patient, actor=request.user, late_reason=body.validated_data["late_reason"]
        )
        return Response(AllocationSerializer(allocation).data)
