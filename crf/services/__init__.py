"""CRF writes, one module per sub-domain (issue 21): the visit schedule, the form lifecycle, SDV,
form locks, queries, the casebook sign-off and the laboratories' normal ranges.

Callers keep ``from crf import services; services.crf_save(...)``: every service is re-exported
here (private helpers too, for the callers that used them).
"""

# Names the single services module exposed through its imports, and callers use through it.
from core.errors import NotPermitted
from crf.models import Query
from crf.validators import CheckResult

from .casebook import (
    CASEBOOK_MEANING,
    CASEBOOK_PARTS,
    _patient_parts,
    casebook_blockers,
    casebook_digest,
    casebook_part_register,
    casebook_refresh,
    casebook_sign,
    casebook_signature_status,
)
from .form_lifecycle import (
    VISIT_DATE_FIELDS,
    CheckFailed,
    FormIncomplete,
    _derived_fields,
    _validator,
    _visit_done_from_form,
    crf_check,
    crf_mark_complete,
    crf_mark_not_done,
    crf_save,
    laboratory_rederive,
)
from .lab_ranges import (
    lab_reference_range_add,
)
from .locks import (
    crf_lock,
    crf_unlock,
)
from .queries import (
    EDIT_CHECK_REASON,
    RESOLVED_BY_DATA_CHANGE,
    _query_on,
    _raise_soft_queries,
    automatic_query,
    query_answer,
    query_close,
    query_close_check,
    query_close_many,
    query_close_resolved,
    query_may_close,
    query_raise,
    query_reopen,
)
from .schedule import (
    REGISTRATION_DATE_FIELDS,
    _on_randomised,
    _on_registration_corrected,
    visit_add_unscheduled,
    visit_mark_done,
    visit_mark_missed,
    visits_reanchor_on_liver_resection,
    visits_reschedule_after_dose,
    visits_schedule_create,
)
from .sdv import (
    crf_verify,
)

__all__ = [
    "CASEBOOK_MEANING",
    "CASEBOOK_PARTS",
    "EDIT_CHECK_REASON",
    "REGISTRATION_DATE_FIELDS",
    "RESOLVED_BY_DATA_CHANGE",
    "VISIT_DATE_FIELDS",
    "CheckFailed",
    "CheckResult",
    "FormIncomplete",
    "NotPermitted",
    "Query",
    "_derived_fields",
    "_on_randomised",
    "_on_registration_corrected",
    "_patient_parts",
    "_query_on",
    "_raise_soft_queries",
    "_validator",
    "_visit_done_from_form",
    "automatic_query",
    "casebook_blockers",
    "casebook_digest",
    "casebook_part_register",
    "casebook_refresh",
    "casebook_sign",
    "casebook_signature_status",
    "crf_check",
    "crf_lock",
    "crf_mark_complete",
    "crf_mark_not_done",
    "crf_save",
    "crf_unlock",
    "crf_verify",
    "lab_reference_range_add",
    "laboratory_rederive",
    "query_answer",
    "query_close",
    "query_close_check",
    "query_close_many",
    "query_close_resolved",
    "query_may_close",
    "query_raise",
    "query_reopen",
    "visit_add_unscheduled",
    "visit_mark_done",
    "visit_mark_missed",
    "visits_reanchor_on_liver_resection",
    "visits_reschedule_after_dose",
    "visits_schedule_create",
]
