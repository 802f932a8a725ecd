from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import CONFLICT, ERRORS
from core.policy import Action, require
from sites.models import Site

from . import services
from .access import access_patient
from .codelists import Sex
from .eligibility import evaluate
from .forms import EligibilityForm
from .models import ConsentDocument, Patient
from .selectors import patient_list


class PatientSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code")
    arm = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "trial_number",
            "site",
            "status",
            "sex",
            "year_of_birth",
            "liver_resection_date",
            "primary_resection_date",
            "primary_site_group",
            "who_grade",
            "resection_margin",
            "arm",
        ]

    def get_arm(self, patient) -> str | None:
        allocation = getattr(patient, "allocation", None)
        return allocation.arm if allocation else None


class ConsentInSerializer(serializers.Serializer):
    document_version = serializers.CharField()
    consented_at = serializers.DateTimeField()
    samples_biobank = serializers.BooleanField(default=False)
    tissue = serializers.BooleanField(default=False)
    future_research = serializers.BooleanField(default=False)
    gp_letter = serializers.BooleanField(default=False)

    def validate_document_version(self, value):
        if not ConsentDocument.objects.filter(document_version=value).exists():
            raise serializers.ValidationError("No consent document has this version.")
        return value

    def to_service(self) -> dict:
        data = dict(self.validated_data)
        data["document"] = ConsentDocument.objects.get(document_version=data.pop("document_version"))
        return data


class RegisterSerializer(serializers.Serializer):
    site = serializers.CharField(max_length=10)
    initials = serializers.CharField(max_length=3)
    year_of_birth = serializers.IntegerField(min_value=1900, max_value=2100)
    sex = serializers.ChoiceField(choices=Sex.choices)
    liver_resection_date = serializers.DateField()
    primary_resection_date = serializers.DateField()
    consent = ConsentInSerializer()
    confirm_possible_duplicate = serializers.BooleanField(default=False)


class PatientList(APIView):
    @extend_schema(responses={200: PatientSerializer(many=True), **ERRORS}, summary="Patients of your sites")
    def get(self, request):
        patients = patient_list(user=request.user).select_related("site", "allocation")
        return Response(PatientSerializer(patients, many=True).data)

    @extend_schema(
        request=RegisterSerializer, responses={201: PatientSerializer, **ERRORS}, summary="Register a consented patient"
    )
    def post(self, request):
        # The policy answers before the body is read: a forged request is 403, not a 400 of fields.
        require(request.user, Action.PATIENT_REGISTER)
        body = RegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        site = get_object_or_404(Site.objects.visible_to(request.user), code=data.pop("site"))
        consent = ConsentInSerializer(data=request.data["consent"])
        consent.is_valid(raise_exception=True)
        data.pop("consent")
        duplicate = data.pop("confirm_possible_duplicate")
        patient = services.patient_register(
            actor=request.user,
            site=site,
            data=data,
            consent=consent.to_service(),
            confirm_possible_duplicate=duplicate,
        )
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetail(APIView):
    @extend_schema(responses={200: PatientSerializer, **ERRORS}, summary="One patient")
    def get(self, request, trial_number):
        return Response(PatientSerializer(access_patient(user=request.user, trial_number=trial_number)).data)


class ConsentOutSerializer(serializers.Serializer):
    document_version = serializers.CharField(source="document.document_version")
    consented_at = serializers.DateTimeField()


class PatientConsent(APIView):
    @extend_schema(
        request=ConsentInSerializer, responses={201: ConsentOutSerializer, **ERRORS}, summary="Record consent"
    )
    def post(self, request, trial_number):
        patient = access_patient(user=request.user, trial_number=trial_number)
        require(request.user, Action.CONSENT_RECORD, patient.site)
        body = ConsentInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        consent = services.consent_record(actor=request.user, patient=patient, data=body.to_service())
        return Response(ConsentOutSerializer(consent).data, status=status.HTTP_201_CREATED)


class EligibilityInSerializer(serializers.Serializer):
    answers = serializers.DictField(help_text="Criterion answers by field name, as on the eligibility form")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    # Required, as on the form: without it a stale POST silently overwrote newer answers (issue 19).
    version = serializers.IntegerField(
        min_value=0, help_text="the version you read (0 before the first save); a newer one answers 409"
    )


class EligibilityOutSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    version = serializers.IntegerField()
    missing = serializers.ListField(child=serializers.CharField())


class PatientEligibility(APIView):
    @extend_schema(
        request=EligibilityInSerializer,
        responses={200: EligibilityOutSerializer, **ERRORS, **CONFLICT},
        summary="Save eligibility answers (confirmation needs the investigator's e-signature in the app)",
    )
    def post(self, request, trial_number):
        patient = access_patient(user=request.user, trial_number=trial_number)
        require(request.user, Action.ELIGIBILITY_ASSESS, patient.site)
        body = EligibilityInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        form = EligibilityForm(data=body.validated_data["answers"])
        form.fields.pop("reason", None)
        for field in form.fields.values():
            field.required = False
        if not form.is_valid():
            raise serializers.ValidationError({k: [str(e) for e in v] for k, v in form.errors.items()})
        answers = {k: v for k, v in form.cleaned_data.items() if k in body.validated_data["answers"]}
        assessment = services.eligibility_save(
            actor=request.user,
            patient=patient,
            data=answers,
            reason=body.validated_data["reason"],
            expected_version=body.validated_data["version"],
        )
        result = evaluate(assessment, patient)
        return Response(
            {"outcome": assessment.outcome, "version": assessment.version, "missing": [c.text for c in result.missing]}
        )
