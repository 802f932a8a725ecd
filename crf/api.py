from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import CONFLICT, ERRORS
from core.policy import Action, form_entry_action, require
from patients.access import access_patient

from . import services
from .access import access_query, expected_forms
from .dictionary import form_columns, plain
from .forms import crf_form_class
from .models import Query, Visit
from .registry import FORMS


class VisitSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()

    class Meta:
        model = Visit
        fields = ["code", "label", "target_date", "window_start", "window_end", "done_on", "missed_reason", "state"]

    def get_state(self, visit) -> str:
        return str(visit.state())


class PatientVisits(APIView):
    @extend_schema(responses={200: VisitSerializer(many=True), **ERRORS}, summary="The patient's visits")
    def get(self, request, trial_number):
        patient = access_patient(user=request.user, trial_number=trial_number)
        visits = list(patient.visits.filter(retired_at__isnull=True).order_by("target_date", "sequence"))
        for visit in visits:
            visit.patient = patient
        return Response(VisitSerializer(visits, many=True).data)


class FormOutSerializer(serializers.Serializer):
    form_code = serializers.CharField()
    visit = serializers.CharField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    data = serializers.DictField()
    missing = serializers.ListField(child=serializers.CharField())


class FormInSerializer(serializers.Serializer):
    visit = serializers.CharField(help_text="visit code, e.g. RAND, C1, FU03")
    data = serializers.DictField(help_text="field values by name; partial saves allowed")
    version = serializers.IntegerField(min_value=0, help_text="the version you read; 0 for a new form")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    complete = serializers.BooleanField(default=False, help_text="also mark the form complete")


def _form_out(model, form, visit_code):
    return {
        "form_code": model.FORM_CODE,
        "visit": visit_code,
        "status": form.status if form else "not_started",
        "version": form.version if form else 0,
        "data": {c.name: (plain(c.value_of(form), c.kind) if form else "") for c in _columns(model)},
        "missing": form.missing_fields() if form else list(model.REQUIRED_FOR_COMPLETE),
    }


def _columns(model):
    return form_columns(model)


def _single_form(form_code):
    model = FORMS.get(form_code)
    if model is None or model.REPEATING:
        raise Http404  # repeating logs are entered in the app (one entry per event)
    return model


class PatientForm(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("visit", str, required=True, description="visit code")],
        responses={200: FormOutSerializer, **ERRORS},
        summary="Read a CRF at a visit",
    )
    def get(self, request, trial_number, form_code):
        model = _single_form(form_code)
        patient = access_patient(user=request.user, trial_number=trial_number)
        visit = get_object_or_404(Visit, patient=patient, code=request.query_params.get("visit", ""))
        if form_code not in expected_forms(visit):
            raise Http404
        return Response(_form_out(model, model.objects.filter(visit=visit).first(), visit.code))

    @extend_schema(
        request=FormInSerializer,
        responses={200: FormOutSerializer, **ERRORS, **CONFLICT},
        summary="Save a CRF (same edit checks as the app; a reason once the form was saved)",
    )
    def put(self, request, trial_number, form_code):
        model = _single_form(form_code)
        patient = access_patient(user=request.user, trial_number=trial_number)
        require(request.user, form_entry_action(form_code), patient.site)
        body = FormInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        visit = get_object_or_404(Visit, patient=patient, code=body.validated_data["visit"])
        if form_code not in expected_forms(visit):
            raise Http404
        submitted = body.validated_data["data"]
        unknown = sorted(set(submitted) - set(model.data_field_names()))
        if unknown:
            raise serializers.ValidationError({name: ["Not a field of this form."] for name in unknown})
        # The app's form parses and range-checks the values exactly as for a nurse typing them.
        bound = crf_form_class(model)(data=_stringify(submitted))
        if not bound.is_valid():
            raise serializers.ValidationError({k: [str(e) for e in v] for k, v in bound.errors.items()})
        data = {n: bound.cleaned_data[n] for n in submitted}
        form = services.crf_save(
            model=model,
            visit=visit,
            data=data,
            actor=request.user,
            reason=body.validated_data["reason"],
            expected_version=body.validated_data["version"],
            # In the save's transaction: a refused completion saves nothing (issue 21).
            complete=body.validated_data["complete"],
        )
        return Response(_form_out(model, form, visit.code), status=status.HTTP_200_OK)


def _stringify(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if value is None:
            out[key] = ""
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


class QuerySerializer(serializers.ModelSerializer):
    trial_number = serializers.CharField(source="patient.trial_number")
    age_days = serializers.IntegerField()

    class Meta:
        model = Query
        fields = ["id", "trial_number", "visit_code", "form_code", "field", "text", "status", "automatic", "age_days"]


class QueryFilterSerializer(serializers.Serializer):
    # An unknown value is a 400 naming the parameter: it used to list every query (issue 19).
    status = serializers.ChoiceField(choices=["open", "answered", "closed", "all"], default="open")


class QueryList(APIView):
    @extend_schema(
        parameters=[QueryFilterSerializer],
        responses={200: QuerySerializer(many=True), **ERRORS},
        summary="Data queries of your sites",
    )
    def get(self, request):
        queries = Query.objects.visible_to(request.user).select_related("patient").order_by("created_at")
        params = QueryFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data["status"]
        if wanted == "open":
            queries = queries.open()
        elif wanted in Query.Status.values:
            queries = queries.filter(status=wanted)
        return Response(QuerySerializer(queries[:1000], many=True).data)


class QueryActionSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, default="")


class QueryAction(APIView):
    @extend_schema(
        request=QueryActionSerializer, responses={200: QuerySerializer, **ERRORS}, summary="Answer, close or re-open"
    )
    def post(self, request, query_id, action):
        query = access_query(user=request.user, query_id=query_id)
        if action == "answer":
            require(request.user, Action.QUERY_ANSWER, query.patient.site)
        elif action in ("close", "reopen"):
            services.query_close_check(query=query, actor=request.user)
        body = QueryActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        text = body.validated_data["text"]
        if action == "answer":
            query = services.query_answer(query=query, text=text, actor=request.user)
        elif action == "close":
            query = services.query_close(query=query, text=text, actor=request.user)
        elif action == "reopen":
            query = services.query_reopen(query=query, text=text, actor=request.user)
        else:
            raise Http404
        return Response(QuerySerializer(query).data)
