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

# The coder's fields: read here, written only through the coding endpoint (medical coder).
CODING_FIELDS = ("ctcae_soc", "needs_coding", "meddra_llt_code", "meddra_pt_code", "meddra_version", "coded_at")


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
            *CODING_FIELDS,
            "version",
        ]
        read_only_fields = ["id", "sae_report_ids", "sae_reports", *CODING_FIELDS, "version"]

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


class AdverseEventCodingSerializer(serializers.Serializer):
    meddra_llt_code = serializers.CharField(max_length=8, help_text="MedDRA lowest level term code (8 digits)")
    meddra_pt_code = serializers.CharField(max_length=8, help_text="MedDRA preferred term code (8 digits)")
    meddra_version = serializers.CharField(max_length=10, help_text="MedDRA version, for example 27.1")
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="needed for a re-code, which voids the PI's SAE signature"
    )


class PatientAdverseEventCoding(APIView):
    @extend_schema(
        request=AdverseEventCodingSerializer,
        responses={200: AdverseEventSerializer, **ERRORS},
        summary="Code an AE in MedDRA (medical coder; a re-code voids the PI's SAE signature)",
    )
    def post(self, request, trial_number, ae_id):
        ae = access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id)
        require(request.user, Action.MEDDRA_CODE, ae.patient.site)
        body = AdverseEventCodingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        ae = services.ae_code(
            ae=ae,
            actor=request.user,
            llt_code=values["meddra_llt_code"],
            pt_code=values["meddra_pt_code"],
            version=values["meddra_version"],
            reason=values.get("reason", ""),
        )
        return Response(AdverseEventSerializer(ae).data)
