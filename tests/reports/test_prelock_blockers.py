"""The pre-lock checklist lives above the domains (reports.locking, issue 21) and is made of each
domain's own ``prelock_blockers()``: crf (open queries, expected forms, SDV) then safety (SAE
reports signed by the investigator). The checks are the ones the lock refused on before the move
(protocol.md "Locks and sign-off" with the data-management rules of crf.locking)."""

from decimal import Decimal

import pytest

from core.errors import DomainError
from crf import selectors as crf_selectors
from crf import services as crf
from crf.models import DatasetLock, Demographics
from reports import locking
from safety import selectors as safety_selectors
from tests.crf.factories import scheduled_patient
from tests.safety.factories import rsi, serious_ae

pytestmark = pytest.mark.django_db


def test_the_checklist_is_the_domains_blockers_in_their_order_and_names_each(world):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)  # opens the initial SAE report, not signed
    patient = scheduled_patient(world.site_b)
    form = crf.crf_save(
        model=Demographics,
        visit=patient.visits.get(code="RAND"),
        data={"height_cm": Decimal("170")},
        actor=world.nurse_b,
    )
    query = crf.query_raise(form=form, field="height_cm", text="Please check", actor=world.data_manager)

    checklist = locking.prelock_checklist()
    assert checklist == [*crf_selectors.prelock_blockers(), *safety_selectors.prelock_blockers()]
    labels = [c["label"] for c in checklist]
    assert labels == [
        "No open queries",
        "Every expected form complete, recorded as not done, or its visit marked missed",
        "Source data verification complete",
        "Every SAE report signed by the investigator",
    ]
    by_label = {c["label"]: c["blockers"] for c in checklist}
    assert [b for b in by_label["No open queries"] if b.startswith(f"Query {query.pk} on {patient.trial_number}")]
    assert by_label["Every SAE report signed by the investigator"] == [str(ae.sae_reports.get())]
    with pytest.raises(DomainError, match="The pre-lock checklist is not met") as refused:
        locking.dataset_lock(actor=world.data_manager, reason="Interim analysis")
    assert refused.value.code == "checklist"
    assert not DatasetLock.objects.exists()
