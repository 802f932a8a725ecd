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
