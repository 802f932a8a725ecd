from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import CONFLICT, ERRORS
from core.policy import Action, require
from patients.access import access_patient

from . import services
from .access import access_ae
from .models import AdverseEvent


class AdverseEventSerializer(serializers.ModelSerializer):
    sae_report_ids = serializers.SerializerMethodField()
    sae_reports = serializers.SerializerMethodField()
    version = serializers.IntegerField(read_only=True)

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            # The recorded event, as the PI's SAE signature covers it (AdverseEvent.SIGNED_WITH_SAE).
            *AdverseEvent.SIGNED_WITH_SAE,
            "sae_report_ids",
            "sae_reports",
            "version",
        ]
        read_only_fields = ["id", "sae_report_ids", "sae_reports", "version"]

    def get_sae_report_ids(self, ae) -> list[int]:
        return [r.pk for r in ae.sae_reports.all()]

    def get_sae_reports(self, ae) -> list[dict]:
        """Each report's number, receipt by the sponsor and whether the PI's signature still stands."""
        return [
            {
                "id": r.pk,
                "number": r.number,
                "submitted_at": r.submitted_at,
                "pi_signature_valid": services.pi_signed(r),
            }
            for r in ae.sae_reports.order_by("number")
        ]


class AdverseEventChangeSerializer(AdverseEventSerializer):
    expected_version = serializers.IntegerField(min_value=1, write_only=True, help_text="the version you read")
    reason = serializers.CharField(write_only=True, help_text="why it changes (audit trail)")

    class Meta(AdverseEventSerializer.Meta):
        fields = [*AdverseEventSerializer.Meta.fields, "expected_version", "reason"]


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


class PatientAdverseEvent(APIView):
    @extend_schema(responses={200: AdverseEventSerializer, **ERRORS}, summary="One AE with its SAE reports")
    def get(self, request, trial_number, ae_id):
        return Response(
            AdverseEventSerializer(access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id)).data
        )

    @extend_schema(
        request=AdverseEventChangeSerializer,
        responses={200: AdverseEventSerializer, **ERRORS, **CONFLICT},
        summary="Change an AE (same checks as the app; a change voids the PI's SAE signature)",
    )
    def patch(self, request, trial_number, ae_id):
        ae = access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id)
        body = AdverseEventChangeSerializer(ae, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        expected_version = values.pop("expected_version", None)
        reason = values.pop("reason", "")
        ae = services.ae_save(
            patient=ae.patient,
            data=values,
            actor=request.user,
            instance=ae,
            reason=reason,
            expected_version=expected_version,
        )
        return Response(AdverseEventSerializer(ae).data)
