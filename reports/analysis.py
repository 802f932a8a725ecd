"""Analysis files of a dataset export: one row per randomised patient (subjects) and one row per
patient, endpoint and origin (time_to_event), derived from the raw tables by the rules below, which
the data dictionary repeats beside each column.

Source: protocol.md "Analysis datasets". Written by hand: the derivations are the trial's own.

Origins: liver resection date, randomisation date (site-local), first dose (cycle 1 date, arm B
where given; no row when not given).
Endpoints (time in days from the origin; event 1/0; event type; censoring reason):
- ``RFS3`` recurrence or death within 3 years (primary): first recurrence anywhere (recurrence form,
  date of recurrence) or death from any cause; without an event, censored at the last disease
  assessment; an event more than 3 years (1,096 days) after the origin is censored at 3 years.
- ``LDFS`` disease-free survival in the liver: first recurrence with the liver among its sites, or
  death; censored at the last disease assessment.
- ``OS`` overall survival: death from any cause; censored at last known alive.
- ``TTNT`` time to next anticancer treatment: start of the next treatment (recurrence form);
  censored at death (censoring reason "death") or at last known alive.
A patient who withdrew consent for further use of data (withdrawal level "data_use") keeps the
data collected up to the withdrawal date: nothing dated after it is used (follow-up censored at
the withdrawal date at the latest), and the row is flagged ``data_use_withdrawn``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from crf.models import EndOfStudy, FollowUp, LutatheraDosing, Recurrence, Visit
from patients.codelists import STRATUM_MARGIN_CHOICES, STRATUM_WHO_GRADE_CHOICES, PrimarySiteGroup
from patients.models import Consent, Patient, Withdrawal
from randomisation.codelists import Arm

from .dataset import CHUNK, Column, codes_of

THREE_YEARS_DAYS = 1096  # 3 × 365 + 1 leap day: the primary endpoint's horizon
ORIGINS = ("liver_resection", "randomisation", "first_dose")
ENDPOINTS = ("RFS3", "LDFS", "OS", "TTNT")
_LEVEL_RANK = {Withdrawal.Level.TREATMENT: 1, Withdrawal.Level.FOLLOW_UP: 2, Withdrawal.Level.DATA_USE: 3}

SUBJECT_COLUMNS = [
    Column("trial_number", "Trial number", "text"),
    Column("site", "Site", "text"),
    Column("country", "Country", "text"),
    Column("arm", "Randomised arm", "text", codes=codes_of(Arm)),
    Column("stratum", "Stratum", "text"),
    Column(
        "primary_site",
        "Stratification: primary site group",
        "text",
        codes=codes_of(PrimarySiteGroup),
        derived_from="eligibility",
    ),
    Column(
        "who_grade",
        "Stratification: WHO grade",
        "text",
        codes=codes_of(STRATUM_WHO_GRADE_CHOICES),
        derived_from="eligibility",
    ),
    Column(
        "resection_margin",
        "Stratification: resection margin",
        "text",
        codes=codes_of(STRATUM_MARGIN_CHOICES),
        derived_from="eligibility",
    ),
    Column(
        "randomisation_date",
        "Randomisation date (site-local)",
        "date",
        derived_from="allocation time in the site's timezone",
    ),
    Column("primary_resection_date", "Date of primary resection", "date"),
    Column("liver_resection_date", "Date of liver resection", "date"),
    Column("cycle1_date", "Date of Lutathera cycle 1", "date", derived_from="lutathera_dosing at C1"),
    Column("cycle2_date", "Date of Lutathera cycle 2", "date", derived_from="lutathera_dosing at C2"),
    Column(
        "status",
        "Patient status",
        "text",
        codes=tuple((str(v), str(label)) for v, label in Patient.Status.choices),
        derived_from="crf.lifecycle: end of study form, withdrawals, follow-up visits",
    ),
    Column(
        "withdrawal_level",
        "Withdrawal level (the widest)",
        "text",
        codes=tuple((str(v), str(label)) for v, label in Withdrawal.Level.choices),
    ),
    Column("withdrawal_date", "Date of that withdrawal", "date"),
    Column(
        "data_use_withdrawn",
        "Consent to further use of data withdrawn",
        "boolean",
        derived_from="withdrawal level data_use",
    ),
    Column("end_of_study_date", "Date of end of study", "date"),
    Column(
        "end_of_study_reason",
        "Reason for end of study",
        "text",
        codes=tuple((str(v), str(label)) for v, label in EndOfStudy.Reason.choices),
    ),
    Column("death_date", "Date of death", "date"),
    Column(
        "last_known_alive",
        "Date of last contact (last known alive)",
        "date",
        derived_from="date of death if died; else the latest of randomisation, visit dates, follow-up, imaging, "
        "recurrence and end of study dates (none after a data-use withdrawal)",
    ),
    Column(
        "last_disease_assessment",
        "Date of last disease assessment",
        "date",
        derived_from="latest follow-up imaging date or recurrence date (none after a data-use withdrawal)",
    ),
    Column(
        "consent_samples_biobank",
        "Optional consent: NETest and biobank samples",
        "boolean",
        derived_from="latest consent",
    ),
    Column("consent_tissue", "Optional consent: stored tumour tissue", "boolean", derived_from="latest consent"),
    Column("consent_future_research", "Optional consent: future research", "boolean", derived_from="latest consent"),
    Column("consent_gp_letter", "Optional consent: letter to the GP", "boolean", derived_from="latest consent"),
]

TTE_COLUMNS = [
    Column("trial_number", "Trial number", "text"),
    Column("arm", "Randomised arm", "text", codes=codes_of(Arm)),
    Column(
        "endpoint",
        "Endpoint",
        "text",
        codes=(
            ("RFS3", "Recurrence or death within 3 years (primary)"),
            ("LDFS", "Disease-free survival in the liver"),
            ("OS", "Overall survival"),
            ("TTNT", "Time to next anticancer treatment"),
        ),
        derived_from="RFS3: first recurrence or death, censored at last disease assessment, at most 1096 days; "
        "LDFS: first recurrence in the liver or death, censored at last disease assessment; "
        "OS: death, censored at last known alive; TTNT: next treatment start, censored at death or last known alive",
    ),
    Column(
        "origin",
        "Origin",
        "text",
        codes=(
            ("liver_resection", "Liver resection"),
            ("randomisation", "Randomisation"),
            ("first_dose", "First dose"),
        ),
    ),
    Column("origin_date", "Date of the origin", "date"),
    Column("end_date", "Date of the event or of censoring", "date"),
    Column("days", "Time from origin (days)", "integer", unit="days", derived_from="end_date - origin_date"),
    Column("event", "Event (1) or censored (0)", "integer", codes=(("1", "Event"), ("0", "Censored"))),
    Column(
        "event_type",
        "Event type",
        "text",
        codes=(
            ("recurrence", "Recurrence"),
            ("liver_recurrence", "Recurrence in the liver"),
            ("death", "Death"),
            ("next_treatment", "Next anticancer treatment"),
        ),
    ),
    Column(
        "censoring_reason",
        "Censoring reason",
        "text",
        codes=(
            ("last_disease_assessment", "No event by the last disease assessment"),
            ("three_years", "No event within 3 years"),
            ("last_known_alive", "Alive at last contact"),
            ("death", "Died without the event"),
            ("no_follow_up", "No assessment after the origin"),
        ),
    ),
    Column("data_use_withdrawn", "Consent to further use of data withdrawn", "boolean"),
]


def _max(*days):
    present = [d for d in days if d is not None]
    return max(present) if present else None


def _min(*days):
    present = [d for d in days if d is not None]
    return min(present) if present else None


# The patients' fields the analysis files read, with their site and allocation (_randomised_chunks).
_PATIENT_FIELDS = (
    "pk",
    "trial_number",
    "site__code",
    "site__country",
    "site__timezone",
    "allocation__arm",
    "allocation__stratum",
    "allocation__randomised_at",
    "primary_site_group",
    "who_grade",
    "resection_margin",
    "primary_resection_date",
    "liver_resection_date",
    "status",
)


def _subject_facts(patients: list, in_chunk: dict) -> list[dict]:
    """Everything the analysis files need of these patients, in a fixed number of queries.

    ``patients``: rows of _PATIENT_FIELDS (named tuples); ``in_chunk``: the lookup that selects
    exactly them (their trial-number range), so each query names a range, not a thousand ids. The
    records are read as named tuples of the fields used, not as model instances: at 1,000 patients
    building the instances was a third of the time of the analysis files."""
    ends = {
        e.patient_id: e
        for e in EndOfStudy.objects.filter(**in_chunk).values_list(
            "patient_id", "death_date", "end_date", "reason", named=True
        )
    }
    withdrawals = defaultdict(list)
    for w in (
        Withdrawal.objects.filter(retired_at__isnull=True, **in_chunk)
        .order_by("withdrawn_on", "pk")
        .values_list("patient_id", "level", "withdrawn_on", named=True)
    ):
        withdrawals[w.patient_id].append(w)
    consents = {}
    for c in (
        Consent.objects.filter(**in_chunk)
        .order_by("consented_at", "pk")
        .values_list("patient_id", "samples_biobank", "tissue", "future_research", "gp_letter", named=True)
    ):
        consents[c.patient_id] = c  # the latest wins
    doses = {}
    for patient_id, code, day in LutatheraDosing.objects.filter(visit__code__in=("C1", "C2"), **in_chunk).values_list(
        "patient_id", "visit__code", "dose_date"
    ):
        doses[(patient_id, code)] = day
    visit_days = defaultdict(list)
    for patient_id, day in Visit.objects.filter(
        done_on__isnull=False, retired_at__isnull=True, **in_chunk
    ).values_list("patient_id", "done_on"):
        visit_days[patient_id].append(day)
    imaging = defaultdict(list)
    for patient_id, visit_day, image_day in FollowUp.objects.filter(**in_chunk).values_list(
        "patient_id", "visit_date", "imaging_date"
    ):
        imaging[patient_id].append((visit_day, image_day))
    recurrences = defaultdict(list)
    for r in Recurrence.objects.filter(**in_chunk).values_list(
        "patient_id", "recurrence_date", "site_liver", "next_treatment_start", named=True
    ):
        recurrences[r.patient_id].append(r)
    zones = {}
    facts = []
    for p in patients:
        tz = zones.get(p.site__timezone) or zones.setdefault(p.site__timezone, ZoneInfo(p.site__timezone))
        randomised_on = p.allocation__randomised_at.astimezone(tz).date()
        widest = max(withdrawals[p.pk], key=lambda w: (_LEVEL_RANK[w.level], -w.withdrawn_on.toordinal()), default=None)
        data_use = next((w.withdrawn_on for w in withdrawals[p.pk] if w.level == Withdrawal.Level.DATA_USE), None)

        def usable(day, _limit=data_use):
            return day if day is not None and (_limit is None or day <= _limit) else None

        end = ends.get(p.pk)
        death = usable(end.death_date if end else None)
        recurrence_rows = [r for r in recurrences[p.pk] if usable(r.recurrence_date)]
        last_assessment = _max(
            *(usable(image) for _visit, image in imaging[p.pk]), *(r.recurrence_date for r in recurrence_rows)
        )
        alive = death or _max(
            randomised_on,
            *(usable(d) for d in visit_days[p.pk]),
            *(usable(v) for v, _image in imaging[p.pk]),
            last_assessment,
            usable(end.end_date if end else None),
        )
        consent = consents.get(p.pk)
        facts.append(
            {
                "patient": p,
                "randomised_on": randomised_on,
                "cycle1": doses.get((p.pk, "C1")),
                "cycle2": doses.get((p.pk, "C2")),
                "widest": widest,
                "data_use": data_use,
                "end": end,
                "death": death,
                "last_assessment": last_assessment,
                "last_alive": alive,
                "first_recurrence": _min(*(r.recurrence_date for r in recurrence_rows)),
                "first_liver_recurrence": _min(*(r.recurrence_date for r in recurrence_rows if r.site_liver)),
                "next_treatment": _min(*(usable(r.next_treatment_start) for r in recurrence_rows)),
                "consent": consent,
            }
        )
    return facts


def _randomised_chunks():
    """The randomised patients' facts in trial-number order, CHUNK patients at a time."""
    randomised = Patient.objects.filter(allocation__isnull=False)
    patients = randomised.order_by("trial_number").values_list(*_PATIENT_FIELDS, named=True)

    def facts(chunk):
        # The chunk is a run of consecutive trial numbers in the database's order: its range
        # (compared in that same collation) selects exactly its patients.
        span = (chunk[0].trial_number, chunk[-1].trial_number)
        ids = randomised.filter(trial_number__range=span).values("pk")
        return _subject_facts(chunk, {"patient_id__in": ids})

    chunk = []
    for patient in patients.iterator(chunk_size=CHUNK):
        chunk.append(patient)
        if len(chunk) == CHUNK:
            yield facts(chunk)
            chunk = []
    if chunk:
        yield facts(chunk)


def subject_rows():
    for facts in _randomised_chunks():
        for f in facts:
            p, end, widest, consent = f["patient"], f["end"], f["widest"], f["consent"]
            yield (
                p.trial_number,
                p.site__code,
                p.site__country,
                p.allocation__arm,
                p.allocation__stratum,
                p.primary_site_group,
                p.who_grade,
                p.resection_margin,
                f["randomised_on"],
                p.primary_resection_date,
                p.liver_resection_date,
                f["cycle1"],
                f["cycle2"],
                p.status,
                widest.level if widest else "",
                widest.withdrawn_on if widest else None,
                f["data_use"] is not None,
                end.end_date if end else None,
                end.reason if end else "",
                f["death"],
                f["last_alive"],
                f["last_assessment"],
                consent.samples_biobank if consent else None,
                consent.tissue if consent else None,
                consent.future_research if consent else None,
                consent.gp_letter if consent else None,
            )


def time_to_event(endpoint: str, origin_date: dt.date, f: dict) -> tuple[dt.date, int, str, str]:
    """(end date, event 1/0, event type, censoring reason) of one endpoint from one origin."""
    death = f["death"]
    if endpoint in ("RFS3", "LDFS"):
        first = f["first_recurrence"] if endpoint == "RFS3" else f["first_liver_recurrence"]
        kind = "recurrence" if endpoint == "RFS3" else "liver_recurrence"
        candidates = [(d, t) for d, t in ((first, kind), (death, "death")) if d is not None and d >= origin_date]
        # On the same day a recurrence is the event reported (it is the clinically specific one).
        event = min(candidates, key=lambda c: (c[0], c[1] == "death")) if candidates else None
        censor = f["last_assessment"]
        if endpoint == "RFS3":
            horizon = origin_date + dt.timedelta(days=THREE_YEARS_DAYS)
            if event and event[0] > horizon:
                event = None
                censor = horizon if (censor is None or censor > horizon) else censor
            elif censor and censor > horizon:
                censor = horizon
        if event:
            return event[0], 1, event[1], ""
        if censor is None or censor < origin_date:
            return origin_date, 0, "", "no_follow_up"
        reason = (
            "three_years"
            if endpoint == "RFS3" and censor == origin_date + dt.timedelta(days=THREE_YEARS_DAYS)
            else "last_disease_assessment"
        )
        return censor, 0, "", reason
    if endpoint == "OS":
        if death is not None:
            return death, 1, "death", ""
        alive = f["last_alive"]
        if alive is None or alive < origin_date:
            return origin_date, 0, "", "no_follow_up"
        return alive, 0, "", "last_known_alive"
    # TTNT
    start = f["next_treatment"]
    if start is not None and start >= origin_date and (death is None or start <= death):
        return start, 1, "next_treatment", ""
    if death is not None:
        return death, 0, "", "death"
    alive = f["last_alive"]
    if alive is None or alive < origin_date:
        return origin_date, 0, "", "no_follow_up"
    return alive, 0, "", "last_known_alive"


def tte_rows():
    for facts in _randomised_chunks():
        for f in facts:
            p = f["patient"]
            origins = {
                "liver_resection": p.liver_resection_date,
                "randomisation": f["randomised_on"],
                "first_dose": f["cycle1"],
            }
            for endpoint in ENDPOINTS:
                for origin in ORIGINS:
                    start = origins[origin]
                    if start is None:
                        continue
                    end, event, kind, censoring = time_to_event(endpoint, start, f)
                    yield (
                        p.trial_number,
                        p.allocation__arm,
                        endpoint,
                        origin,
                        start,
                        end,
                        (end - start).days,
                        event,
                        kind,
                        censoring,
                        f["data_use"] is not None,
                    )
