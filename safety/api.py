from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.policy import Action, require
from nelmas.api import ERRORS
from patients.access import access_patient

from . import services
from .models import AdverseEvent


class AdverseEventSerializer(serializers.ModelSerializer):
    sae_report_ids = serializers.SerializerMethodField()

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "term",
            "grade",
            "onset_date",
            "stop_date",
            "ongoing",
            "serious",
            "criterion_death",
            "criterion_life_threatening",
            "criterion_hospitalisation",
            "criterion_disability",
            "criterion_congenital_anomaly",
            "criterion_important_medical_event",
            "planned_radiation_admission",
            "aware_at",
            "causality_lutathera",
            "causality_amino_acids",
            "causality_procedures",
            "action_taken",
            "outcome",
            "dosing_cycle",
            "sae_report_ids",
        ]
        read_only_fields = ["id", "sae_report_ids"]

    def get_sae_report_ids(self, ae) -> list[int]:
        return [r.pk for r in ae.sae_reports.all()]


class PatientAdverseEvents(APIView):
    @extend_schema(responses={200: AdverseEventSerializer(many=True), **ERRORS}, summary="The patient's AEs")
    def get(self, request, trial_number):
        patient = access_patient(user=request.user, trial_number=trial_number)
        events = patient.adverse_events.filter(retired_at__isnull=True).prefetch_related("sae_reports")
        return Response(AdverseEventSerializer(events, many=True).data)

    @extend_schema(
        request=AdverseEventSerializer,
        responses={201: AdverseEventSerializer, **ERRORS},
        summary="Record an AE (a serious one opens its SAE report; aware_at in UTC)",
    )
    def post(self, request, trial_number):
        patient = access_patient(user=request.user, trial_number=trial_number)
        require(request.user, Action.AE_REPORT, patient.site)
        body = AdverseEventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ae = services.ae_save(patient=patient, data=dict(body.validated_data), actor=request.user)
        return Response(AdverseEventSerializer(ae).data, status=status.HTTP_201_CREATED)
