"""Missing-data codes of the dataset exports (protocol.md "Analysis datasets": every kind of missing
value is distinguishable: not entered, not done (with reason), visit missed, not applicable (arm,
sex, consent, withdrawal), unknown).

One definition for every format: the data dictionary lists them and, per variable, which codes it
can carry and when it is not applicable; SPSS files carry them as user-missing values (numeric and
date variables -991 … -995, declared as a missing range with value labels; a text value standing for
a code, such as an outcome "unknown", as a discrete user-missing value), Stata files as extended
missing values (.a … .e, labelled), SAS transport files numeric and date variables as special
missing values (.A … .E; XPT has no value labels: the dictionary names them), the ODM archive as
an Annotation/Flag whose FlagValue is from the code list CL.MISSING, and the CSV (which has no
missing-value syntax: R, SAS and Stata read an empty cell as missing) leaves the cell empty with the
code in the row's neighbours: ``form_status`` and ``missing_reason`` of a form row, ``visit_status``
of a visit, and ``not_applicable_why``.

Where the codes come from (protocol.md "Visit schedule", CRF 2, 13, "Analysis datasets"):
- a form expected at a scheduled visit but not saved has a row of its own in its table, coded by
  ``absent_form``: not done (with the site's reason), visit missed (with its reason), not applicable
  (why: consent, withdrawal, death or a reason the site recorded on the visit), or not entered at a
  visit that was done. Arm A has no dosing visits (not applicable: arm, in the subject file), so no
  dosing rows at all;
- the visits table codes a visit with ``visit_absent`` by the same rules;
- a value the site recorded as "unknown" is UNK, and an eligibility question not asked of a man is
  NA (why: sex) where the variable is numeric or labelled numeric (Stata); the CSV keeps the value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, Subquery, Value
from django.db.models.functions import Collate

from crf import schedule
from crf.models import EndOfStudy, Visit
from crf.registry import FORMS
from patients.eligibility import NOT_ASKED_OF_MALE_PATIENTS
from patients.models import Consent, Patient, Withdrawal


@dataclass(frozen=True)
class MissingCode:
    key: str  # the code's name in the data dictionary
    odm: str  # FlagValue in CL.MISSING
    label: str
    spss: int  # user-missing value of a numeric SPSS variable
    stata: str  # Stata extended missing value (without the dot)
    sas: str  # SAS special missing value (without the dot); XPT: this letter then seven zero bytes



NOT_ENTERED = MissingCode("not_entered", "NE", "Not entered", -991, "a", "A")
NOT_DONE = MissingCode("not_done", "ND", "Not done (reason recorded)", -992, "b", "B")
VISIT_MISSED = MissingCode("visit_missed", "VM", "Visit missed (reason recorded)", -993, "c", "C")
NOT_APPLICABLE = MissingCode("not_applicable", "NA", "Not applicable (arm, sex, consent or withdrawal)", -994, "d", "D")
UNKNOWN = MissingCode("unknown", "UNK", "Unknown", -995, "e", "E")

MISSING_CODES = (NOT_ENTERED, NOT_DONE, VISIT_MISSED, NOT_APPLICABLE, UNKNOWN)
BY_KEY = {code.key: code for code in MISSING_CODES}
SPSS_RANGE = {"lo": min(c.spss for c in MISSING_CODES), "hi": max(c.spss for c in MISSING_CODES)}


# Why a cell is not applicable (protocol.md "Analysis datasets": arm, sex, consent, withdrawal; and a
# visit due after the patient's death, or one the site recorded as not applicable with its reason).
# The ``not_applicable_why`` column of the visits and form tables holds one of these.
NOT_APPLICABLE_WHY = (
    ("arm", "Arm: arm A (best supportive care) has no Lutathera dosing"),
    ("sex", "Sex: not asked of male patients (protocol CRF 13)"),
    ("consent", "Consent: the optional sample consent was not given or had been withdrawn (protocol CRF 13)"),
    ("withdrawal", "Withdrawal: due after a withdrawal at a level that stops it (protocol CRF 2)"),
    ("death", "Death: due after the patient's death"),
    ("recorded", "Recorded by the site as not applicable, with the reason"),
)

# Withdrawal levels (patients.models.Withdrawal.Level, protocol CRF 2): treatment only stops dosing;
# follow-up and data use stop every further visit and form.
STOPS_VISITS = (Withdrawal.Level.FOLLOW_UP, Withdrawal.Level.DATA_USE)
DOSING_FORMS = ("lutathera_dosing",)
SAMPLE_FORMS = ("biomarker_sample",)

# The context columns of a form table, before the form's own fields (reports.dataset).
FORM_CONTEXT = (
    "trial_number",
    "site",
    "visit",
    "entry",
    "form_status",
    "form_version",
    "missing_reason",
    "not_applicable_why",
)


@dataclass(frozen=True)
class Absent:
    """The code of a form or visit with no data: ``why`` (for NA, a key of NOT_APPLICABLE_WHY) and
    the reason in words (the site's, or the derivation's)."""

    code: MissingCode
    why: str = ""
    reason: str = ""


class VisitFacts(NamedTuple):
    """A visit with what decides its code and that of its absent forms (``visit_facts``). A named
    tuple, not a frozen dataclass: one is built per visit per form table, and a frozen dataclass's
    __init__ (a setattr per field) was a tenth of the time of the export's visit facts."""

    patient_id: int
    trial_number: str
    site: str
    visit_id: int
    code: str
    label: str
    sequence: int
    target_date: dt.date
    window_start: dt.date
    window_end: dt.date
    done_on: dt.date | None
    missed_reason: str
    not_applicable_reason: str
    unscheduled_reason: str
    stop_on: dt.date | None  # first withdrawal that stops visits (follow-up or data use)
    stop_level: str | None
    treatment_stop_on: dt.date | None  # first withdrawal of any level: no dosing after it
    died_on: dt.date | None
    sample_consent: bool | None  # the latest consent's optional sample consent
    samples_withdrawn_on: dt.date | None
    forms: tuple  # (form code, saved?, not-done reason or None) for the forms asked for


_FACT_FIELDS = (
    "patient_id",
    "patient__trial_number",
    "patient__site__code",
    "pk",
    "code",
    "label",
    "sequence",
    "target_date",
    "window_start",
    "window_end",
    "done_on",
    "missed_reason",
    "not_applicable_reason",
    "unscheduled_reason",
)


# What an unscheduled visit may record (crf.access.expected_forms): not expected, but a form there
# can be recorded as not done.
UNSCHEDULED_FORMS = ("laboratory", "follow_up")


def expected_forms(visit_code: str) -> tuple[str, ...]:
    """The single (non-repeating) forms the schedule expects at a scheduled visit: only these can be
    not done (crf_mark_not_done refuses repeating forms), so only these have rows standing for them."""
    definition = next((v for v in schedule.schedule() if v.code == visit_code), None)
    return tuple(f for f in definition.forms if not FORMS[f].REPEATING) if definition else ()


def expected_by_visit() -> dict[str, tuple[str, ...]]:
    """expected_forms of every scheduled visit code, built once (schedule() builds the schedule anew
    each call): for the loops over every visit."""
    return {v.code: expected_forms(v.code) for v in schedule.schedule()}


def scheduled_forms() -> set[str]:
    return {f for v in schedule.schedule() for f in v.forms if not FORMS[f].REPEATING}


def patient_facts() -> dict:
    """What decides a visit's code about its patient (withdrawals, death, consent), per patient id:
    one query of the patients, not six subqueries per visit. An export builds it once and hands it
    to each form table's visit_facts (PatientFacts)."""
    return {row[0]: row[1:] for row in _patient_facts()}


class PatientFacts:
    """patient_facts() built on first use and kept: one export's tables share it (the profile of a
    1,000-patient CSV export found the patients' query run once per form table, 0.2 s of 3.3 s)."""

    def __init__(self):
        self._facts = None

    def __call__(self) -> dict:
        if self._facts is None:
            self._facts = patient_facts()
        return self._facts


def visit_facts(
    *, form_codes=(), scheduled_only: bool = False, byte_order: bool = True, unsaved_only: bool = False, facts=None
):
    """Every visit (not retired) in export order (trial number, sequence, id) as VisitFacts, one
    query streamed in chunks. ``form_codes``: whether each of these forms is saved or recorded not
    done at the visit; ``scheduled_only``: only scheduled visits expecting one of them;
    ``unsaved_only`` (one form code): only visits where that form is not saved (the rest have no
    row standing for it), filtered by the database; ``byte_order``: trial numbers in byte order
    (collation C, as Python compares them), else in the database's order (the ODM's subjects);
    ``facts``: a PatientFacts the caller shares between calls."""
    if unsaved_only and len(form_codes) != 1:
        raise ValueError("unsaved_only needs exactly one form code")
    by_patient = (facts or PatientFacts())()
    visits = Visit.objects.filter(retired_at__isnull=True)
    extra = []
    for code in form_codes:
        saved = Exists(FORMS[code].objects.filter(visit=OuterRef("pk")))
        if unsaved_only:
            visits = visits.filter(~saved).annotate(**{f"_saved_{code}": Value(False)})
        else:
            visits = visits.annotate(**{f"_saved_{code}": saved})
        # The not-done record by a join (at most one per visit and form: FormNotDone's unique
        # constraint), not a subquery per visit: with few records PostgreSQL scanned the whole table
        # once per visit (300 patients: 42 ms of a 52 ms query).
        visits = visits.annotate(
            **{
                f"_nd_{code}": FilteredRelation(
                    "forms_not_done",
                    condition=Q(forms_not_done__form_code=code, forms_not_done__retired_at__isnull=True),
                )
            }
        ).annotate(**{f"_not_done_{code}": F(f"_nd_{code}__reason")})
        extra += [f"_saved_{code}", f"_not_done_{code}"]
    if scheduled_only:
        wanted = set(form_codes)
        scheduled = Q(code__in=[v.code for v in schedule.schedule() if wanted & set(v.forms)])
        if wanted & set(UNSCHEDULED_FORMS):
            scheduled |= ~Q(unscheduled_reason="")
        visits = visits.filter(scheduled)
    rows = (
        visits.order_by(
            Collate(F("patient__trial_number"), "C") if byte_order else "patient__trial_number", "sequence", "pk"
        )
        .values_list(*_FACT_FIELDS, *extra)
        .iterator(chunk_size=2000)
    )
    width = len(_FACT_FIELDS)
    for row in rows:
        forms = tuple((code, row[width + 2 * i], row[width + 2 * i + 1]) for i, code in enumerate(form_codes))
        yield VisitFacts(*row[:width], *by_patient[row[0]], forms)


_PATIENT_FACTS = (
    "_stop_on",
    "_stop_level",
    "_treatment_stop_on",
    "_died_on",
    "_sample_consent",
    "_samples_withdrawn_on",
)


def _patient_facts():
    """(patient id, stop_on, stop_level, treatment_stop_on, died_on, sample_consent,
    samples_withdrawn_on) of every patient: VisitFacts' fields about the patient."""
    stopping = Withdrawal.objects.filter(
        patient=OuterRef("pk"), retired_at__isnull=True, level__in=STOPS_VISITS
    ).order_by("withdrawn_on", "pk")
    any_level = Withdrawal.objects.filter(patient=OuterRef("pk"), retired_at__isnull=True).order_by(
        "withdrawn_on", "pk"
    )
    # The latest consent decides, as Patient.sample_consent_stands does.
    consent = Consent.objects.filter(patient=OuterRef("pk")).order_by("-consented_at", "-pk")
    death = EndOfStudy.objects.filter(patient=OuterRef("pk"), death_date__isnull=False).order_by("pk")
    return (
        Patient.objects.annotate(
            _stop_on=Subquery(stopping.values("withdrawn_on")[:1]),
            _stop_level=Subquery(stopping.values("level")[:1]),
            _treatment_stop_on=Subquery(any_level.values("withdrawn_on")[:1]),
            _died_on=Subquery(death.values("death_date")[:1]),
            _sample_consent=Subquery(consent.values("samples_biobank")[:1]),
            _samples_withdrawn_on=Subquery(consent.values("samples_withdrawn_on")[:1]),
        )
        .order_by()
        .values_list("pk", *_PATIENT_FACTS)
        .iterator(chunk_size=2000)
    )


def visit_absent(visit: VisitFacts) -> Absent | None:
    """The code of a visit not done: missed (reason), not applicable (recorded reason; due after a
    withdrawal that stops visits or after death: its window still open then), else None (not
    entered, or not yet due). The logs are no visit."""
    if visit.done_on is not None or visit.code == Visit.LOG_CODE:
        return None
    if visit.missed_reason:
        return Absent(VISIT_MISSED, "", visit.missed_reason)
    if visit.not_applicable_reason:
        return Absent(NOT_APPLICABLE, "recorded", visit.not_applicable_reason)
    # A visit whose window closed before the withdrawal was due while the patient was on study: it
    # stays not entered (a gap to explain), never not applicable.
    if visit.stop_on is not None and visit.window_end >= visit.stop_on:
        return Absent(
            NOT_APPLICABLE, "withdrawal", f"{visit.stop_level} level, withdrawn on {visit.stop_on.isoformat()}"
        )
    if visit.died_on is not None and visit.window_end >= visit.died_on:
        return Absent(NOT_APPLICABLE, "death", f"died on {visit.died_on.isoformat()}")
    return None


def absent_form(visit: VisitFacts, form_code: str, not_done_reason: str | None) -> Absent | None:
    """The code of a form expected at ``visit`` (expected_forms) that has no saved row, or None when
    the visit is not yet due and nothing is recorded (no row then).

    In order: recorded as not done (the site's reason); a sample form when the optional sample
    consent was not given or was withdrawn by the visit's date (NA: consent); a dosing form on or
    after any withdrawal, treatment only included (NA: withdrawal); the visit's own code (missed, not
    applicable); not entered at a visit that was done."""
    if not_done_reason:
        return Absent(NOT_DONE, "", not_done_reason)
    on = visit.done_on or visit.window_end
    if form_code in SAMPLE_FORMS:
        if not visit.sample_consent:
            return Absent(NOT_APPLICABLE, "consent", "no optional sample consent")
        if visit.samples_withdrawn_on is not None and on >= visit.samples_withdrawn_on:
            return Absent(
                NOT_APPLICABLE, "consent", f"sample consent withdrawn on {visit.samples_withdrawn_on.isoformat()}"
            )
    if form_code in DOSING_FORMS and visit.treatment_stop_on is not None and on >= visit.treatment_stop_on:
        return Absent(
            NOT_APPLICABLE,
            "withdrawal",
            f"no dosing after a withdrawal, withdrawn on {visit.treatment_stop_on.isoformat()}",
        )
    absent = visit_absent(visit)
    if absent is not None:
        return absent
    if visit.done_on is not None:
        return Absent(NOT_ENTERED)
    return None


def absent_rows(form_code: str, facts=None):
    """(visit facts, Absent) for each scheduled visit where ``form_code`` is expected, not saved, and
    has a code (absent_form), in export order. ``facts``: a PatientFacts shared by the export."""
    expected = expected_by_visit()
    for visit in visit_facts(form_codes=(form_code,), scheduled_only=True, unsaved_only=True, facts=facts):
        ((_code, saved, not_done),) = visit.forms
        if saved:
            continue
        if form_code not in expected.get(visit.code, ()):
            # Unscheduled: nothing is expected, only a form recorded as not done has a code.
            if not_done and visit.unscheduled_reason:
                yield visit, Absent(NOT_DONE, "", not_done)
            continue
        absent = absent_form(visit, form_code, not_done)
        if absent is not None:
            yield visit, absent


@dataclass(frozen=True)
class Rule:
    """How a cell of a column is coded: ``code(row)`` for an empty cell, one of ``codes``.

    ``value_codes``: (value, code) pairs for a cell that holds a value standing for a code (an
    outcome "unknown", "NA" for a question not asked): a writer whose variable is numeric (SPSS,
    Stata, and Stata's labelled numbers for coded text) writes the code for it, as it does for an
    empty cell (``code(row)`` gives it), and SPSS declares it a user-missing value of a text
    variable; the CSV and the ODM keep the value. ``why``: when the variable is not applicable, in
    words, for the data dictionary."""

    code: object
    codes: tuple[MissingCode, ...]
    value_codes: tuple[tuple[str, MissingCode], ...] = ()
    why: str = ""


def _always(code: MissingCode, why: str = "") -> Rule:
    return Rule(lambda row: code, (code,), why=why)


def _standing_for(index: int, value: str, code: MissingCode, why: str = "") -> Rule:
    """A column whose ``value`` stands for ``code``; an empty cell was not entered."""
    return Rule(
        lambda row: code if row[index] == value else NOT_ENTERED, (code, NOT_ENTERED), ((value, code),), why=why
    )


_FORM_WHY = "recorded on the visit; or the visit was due after a follow-up or data-use withdrawal, or after death"
_FORM_WHY_EXTRA = {
    "biomarker_sample": "; or the optional sample consent was not given or withdrawn by the visit (consent)",
    "lutathera_dosing": "; or after any withdrawal, treatment only included; arm A has no dosing visits, so no rows",
}


def column_rules(table) -> list[Rule | None]:
    """Per column of ``table``: None, or the Rule coding an empty cell from its row.

    - a CRF table: a saved form's empty field was not entered; a row standing for a form expected at
      a scheduled visit but not saved (absent_form) carries its code in ``form_status`` (not done,
      visit missed, not applicable, not entered) and every field has that code;
    - visits: no date done is a missed visit, not applicable (recorded, withdrawal, death) or not
      entered, as ``visit_status`` says;
    - subjects: cycle dates are not applicable in arm A (best supportive care); withdrawal level
      and date are not applicable without a withdrawal; the death date is not applicable unless
      the patient died; after a withdrawal of consent to data use, dates the protocol leaves out
      are not applicable (withdrawal); anything else empty was not entered;
    - time to event: the event type of a censored row and the censoring reason of an event are
      not applicable;
    - eligibility: a question not asked of a man holds "NA" (not applicable: sex);
    - any coded column with the value "unknown" (AE and SAE outcome): that value is UNK.
    Other tables' empty cells stay plain missing.
    """
    names = [c.name for c in table.columns]
    rules: list[Rule | None] = [None] * len(names)
    if table.name in FORMS:
        status = names.index("form_status")
        start = len(FORM_CONTEXT)  # after the context columns: the form's fields
        if table.name in scheduled_forms():
            rule = Rule(
                lambda row: BY_KEY.get(row[status], NOT_ENTERED),
                (NOT_ENTERED, NOT_DONE, VISIT_MISSED, NOT_APPLICABLE),
                why=_FORM_WHY + _FORM_WHY_EXTRA.get(table.name, ""),
            )
        else:  # logs (repeating): a row is a saved entry, never one standing for an absent form
            rule = _always(NOT_ENTERED)
        for index in range(start, len(names)):
            rules[index] = rule
    elif table.name == "visits":
        visit_status = names.index("visit_status")
        by_status = {"missed": VISIT_MISSED, "not_applicable": NOT_APPLICABLE}
        rules[names.index("done_on")] = Rule(
            lambda row: by_status.get(row[visit_status], NOT_ENTERED),
            (VISIT_MISSED, NOT_APPLICABLE, NOT_ENTERED),
            why="recorded on the visit; or due after a follow-up or data-use withdrawal, or after death",
        )
    elif table.name == "subjects":
        arm, status, data_use = names.index("arm"), names.index("status"), names.index("data_use_withdrawn")
        either = (NOT_APPLICABLE, NOT_ENTERED)
        by_arm = Rule(
            lambda row: NOT_APPLICABLE if row[arm] == "A" else NOT_ENTERED, either, why="arm A (best supportive care)"
        )
        after_withdrawal = Rule(
            lambda row: NOT_APPLICABLE if row[data_use] else NOT_ENTERED,
            either,
            why="withdrawal: consent to further use of data withdrawn",
        )
        death = Rule(
            lambda row: NOT_APPLICABLE if row[status] != "died" or row[data_use] else NOT_ENTERED,
            either,
            why="the patient has not died; or withdrawal: consent to further use of data withdrawn",
        )
        no_withdrawal = _always(NOT_APPLICABLE, why="no withdrawal recorded")
        special = {
            "cycle1_date": by_arm,
            "cycle2_date": by_arm,
            "withdrawal_level": no_withdrawal,
            "withdrawal_date": no_withdrawal,
            "death_date": death,
            "last_known_alive": after_withdrawal,
            "last_disease_assessment": after_withdrawal,
            "end_of_study_date": after_withdrawal,
        }
        # Never empty for a randomised patient: no code (and no code labels) needed.
        always_given = {"trial_number", "site", "country", "arm", "stratum", "randomisation_date", "status"}
        for index, name in enumerate(names):
            if name not in always_given | {"data_use_withdrawn", "liver_resection_date", "primary_resection_date"}:
                rules[index] = special.get(name, _always(NOT_ENTERED))
    elif table.name == "time_to_event":
        rules[names.index("event_type")] = _always(NOT_APPLICABLE, why="a censored row has no event type")
        rules[names.index("censoring_reason")] = _always(NOT_APPLICABLE, why="an event is not censored")
    elif table.name == "eligibility":
        for name in NOT_ASKED_OF_MALE_PATIENTS:
            if name in names:
                rules[names.index(name)] = _standing_for(
                    names.index(name), "NA", NOT_APPLICABLE, why="sex: not asked of male patients (protocol CRF 13)"
                )
    for index, column in enumerate(table.columns):
        if rules[index] is None and any(value == "unknown" for value, _label in column.codes):
            rules[index] = _standing_for(index, "unknown", UNKNOWN)
    return rules
