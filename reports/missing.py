"""Missing-data codes of the dataset exports (protocol.md "Analysis datasets": every kind of missing
value is distinguishable: not entered, not done (with reason), visit missed, not applicable (arm,
sex, consent, withdrawal), unknown).

One definition for every format: the data dictionary lists them; SPSS files carry them as
user-missing values (numeric -991 … -995, declared as a missing range with value labels), Stata files
as extended missing values (.a … .e, labelled), the ODM archive as an Annotation/Flag whose
FlagValue is from the code list CL.MISSING, and the CSV leaves the cell empty with the code in the
table's ``<column>`` neighbour only where the dictionary says so (the CSV has no missing-value
syntax; R, SAS and Stata read an empty cell as missing).
"""

from __future__ import annotations

from dataclasses import dataclass

from crf.registry import FORMS


@dataclass(frozen=True)
class MissingCode:
    key: str  # the code's name in the data dictionary
    odm: str  # FlagValue in CL.MISSING
    label: str
    spss: int  # user-missing value of a numeric SPSS variable
    stata: str  # Stata extended missing value (without the dot)


NOT_ENTERED = MissingCode("not_entered", "NE", "Not entered", -991, "a")
NOT_DONE = MissingCode("not_done", "ND", "Not done (reason recorded)", -992, "b")
VISIT_MISSED = MissingCode("visit_missed", "VM", "Visit missed (reason recorded)", -993, "c")
NOT_APPLICABLE = MissingCode("not_applicable", "NA", "Not applicable (arm, sex, consent or withdrawal)", -994, "d")
UNKNOWN = MissingCode("unknown", "UNK", "Unknown", -995, "e")

MISSING_CODES = (NOT_ENTERED, NOT_DONE, VISIT_MISSED, NOT_APPLICABLE, UNKNOWN)
BY_KEY = {code.key: code for code in MISSING_CODES}
SPSS_RANGE = {"lo": min(c.spss for c in MISSING_CODES), "hi": max(c.spss for c in MISSING_CODES)}


@dataclass(frozen=True)
class Rule:
    """How an empty cell of a column is coded: ``code(row)``, one of ``codes``."""

    code: object
    codes: tuple[MissingCode, ...]


def _always(code: MissingCode) -> Rule:
    return Rule(lambda row: code, (code,))


def column_rules(table) -> list[Rule | None]:
    """Per column of ``table``: None, or the Rule coding an empty cell from its row.

    - a CRF table (one row per saved form): an empty field was not entered;
    - visits: no date done is a missed visit, not applicable (reason recorded) or not entered;
    - subjects: cycle dates are not applicable in arm A (best supportive care); withdrawal level
      and date are not applicable without a withdrawal; the death date is not applicable unless
      the patient died; after a withdrawal of consent to data use, dates the protocol leaves out
      are not applicable (withdrawal); anything else empty was not entered;
    - time to event: the event type of a censored row and the censoring reason of an event are
      not applicable.
    Other tables' empty cells stay plain missing.
    """
    names = [c.name for c in table.columns]
    rules: list[Rule | None] = [None] * len(names)
    if table.name in FORMS:
        for index in range(6, len(names)):  # after the context columns: the form's fields
            rules[index] = _always(NOT_ENTERED)
    elif table.name == "visits":
        missed, not_applicable = names.index("missed_reason"), names.index("not_applicable_reason")

        def done(row):
            if row[missed]:
                return VISIT_MISSED
            return NOT_APPLICABLE if row[not_applicable] else NOT_ENTERED

        rules[names.index("done_on")] = Rule(done, (VISIT_MISSED, NOT_APPLICABLE, NOT_ENTERED))
    elif table.name == "subjects":
        arm, status, data_use = names.index("arm"), names.index("status"), names.index("data_use_withdrawn")
        either = (NOT_APPLICABLE, NOT_ENTERED)
        by_arm = Rule(lambda row: NOT_APPLICABLE if row[arm] == "A" else NOT_ENTERED, either)
        after_withdrawal = Rule(lambda row: NOT_APPLICABLE if row[data_use] else NOT_ENTERED, either)
        death = Rule(lambda row: NOT_APPLICABLE if row[status] != "died" or row[data_use] else NOT_ENTERED, either)
        special = {
            "cycle1_date": by_arm,
            "cycle2_date": by_arm,
            "withdrawal_level": _always(NOT_APPLICABLE),
            "withdrawal_date": _always(NOT_APPLICABLE),
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
        rules[names.index("event_type")] = _always(NOT_APPLICABLE)
        rules[names.index("censoring_reason")] = _always(NOT_APPLICABLE)
    return rules
