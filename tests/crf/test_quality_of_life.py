"""The quality-of-life form: QLQ-C30 items 1–30 and QLQ-GI.NET21 items 31–51 stored by number, the
C30 scale scores and summary score derived on save, stored, audited and exported.

Sources: protocol.md CRF 14 (items 31–51 after the C30, EORTC formulas, store responses by item
number) and "Analysis datasets" (derived values exported beside what was typed); EORTC QLQ-C30
scoring manual and summary-score guidance. The expected scores are the hand-computed worked example
of tests/crf/test_scoring.py.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from crf import services
from crf.models import QualityOfLife
from reports.dataset import collect
from tests.crf.factories import scheduled_patient
from tests.crf.test_scoring import WORKED, WORKED_SCORES

pytestmark = pytest.mark.django_db

# A GI.NET21 answer for each of items 31–51: 1, 2, 3, 4, 1, 2, … (every value 1–4 used).
MODULE = {item: 1 + (item - 31) % 4 for item in range(31, 52)}


def _entries(responses):
    return {"completed_on": timezone.localdate()} | {f"q{n}": v for n, v in responses.items()}


def test_scale_and_summary_scores_are_stored_with_the_entries_in_one_history_row(world):
    patient = scheduled_patient(world.site_a, arm="A")
    form = services.crf_save(
        model=QualityOfLife, visit=patient.visits.get(code="RAND"), data=_entries(WORKED | MODULE), actor=world.nurse_a
    )
    form.refresh_from_db()
    for code, value in WORKED_SCORES.items():
        assert getattr(form, f"c30_{code.lower()}") == Decimal(value), code
    assert form.c30_summary == Decimal("66.1")  # 858.89 / 13 = 66.07
    assert [getattr(form, f"q{n}") for n in (31, 34, 35, 51)] == [1, 4, 1, 1]
    assert form.history.count() == 1
    first = form.history.get()
    assert first.c30_summary == Decimal("66.1") and first.q51 == 1


def test_a_changed_answer_recomputes_the_scores_with_the_reason(world):
    patient = scheduled_patient(world.site_a, arm="A")
    visit = patient.visits.get(code="RAND")
    form = services.crf_save(model=QualityOfLife, visit=visit, data=_entries(WORKED), actor=world.nurse_a)
    # Dyspnoea (item 8) 2 → 4: DY 33.3 → 100.0; summary (858.89 − 66.67) / 13 = 60.94 → 60.9.
    form = services.crf_save(
        model=QualityOfLife,
        visit=visit,
        data={"q8": 4},
        actor=world.nurse_a,
        reason="Transcription error",
        expected_version=form.version,
    )
    form.refresh_from_db()
    assert form.c30_dy == Decimal("100.0")
    assert form.c30_summary == Decimal("60.9")
    latest = form.history.first()
    assert latest.history_change_reason == "Transcription error" and latest.c30_dy == Decimal("100.0")


def test_module_items_and_derived_scores_are_exported_beside_the_items(world):
    patient = scheduled_patient(world.site_a, arm="A")
    services.crf_save(
        model=QualityOfLife, visit=patient.visits.get(code="RAND"), data=_entries(WORKED | MODULE), actor=world.nurse_a
    )
    table = next(t for t in collect(lock=None) if t.name == "quality_of_life")
    names = [c.name for c in table.columns]
    assert [f"q{n}" for n in range(1, 52)] == [n for n in names if n[:1] == "q" and n[1:].isdigit()]
    assert names.index("c30_summary") > names.index("q51")  # derived after what was typed
    summary = table.columns[names.index("c30_summary")]
    assert summary.derived_from and summary.kind == "float"
    row = next(iter(table.iter_rows()))
    assert row[names.index("q31")] == 1 and row[names.index("q51")] == 1
    assert row[names.index("c30_summary")] == Decimal("66.1")
    assert row[names.index("c30_pf2")] == Decimal("86.7")


def test_a_module_answer_outside_one_to_four_is_refused_at_the_field(world):
    from django.core.exceptions import ValidationError

    form = QualityOfLife(q31=5)
    with pytest.raises(ValidationError) as error:
        form.clean_fields(exclude=[f.name for f in QualityOfLife._meta.fields if f.name != "q31"])
    assert "q31" in error.value.message_dict
