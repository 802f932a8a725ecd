"""The nurse sees one list per concept (issue 21): the eligibility form and the histopathology CRF
offer the same primary sites and WHO grades, with the protocol's labels (protocol CRF 6: stomach,
pancreas, duodenum, jejunum/ileum, appendix, colon/rectum; G1 Ki-67 < 3 % and mitoses < 2, G2 3–20 %
or 2–20), and the liver-resection CRF the margins of eligibility (R2 is the debulking exclusion)."""

import pytest

from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SITES = [
    "Stomach",
    "Pancreas",
    "Duodenum",
    "Jejunum / ileum",
    "Appendix",
    "Colon / rectum",
    "Other or unknown (not GEP)",
]
GRADES = ["G1 (Ki-67 < 3 % and mitoses < 2)", "G2 (Ki-67 3–20 % or mitoses 2–20)", "G3 (Ki-67 or mitoses > 20)"]


def _options(page, select: str) -> list[str]:
    texts = page.eval_on_selector_all(f"{select} option", "els => els.map(e => e.textContent.trim())")
    return [t for t in texts if t.strip("—- ")]  # without the blank choice


def test_eligibility_and_the_crfs_offer_the_same_codes(page, live_server, world, login, shots, assert_accessible):
    patient = scheduled_patient(world.site_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, world.nurse_a)

    page.goto(f"{live_server.url}/patients/{patient.trial_number}/eligibility/")
    eligibility = {"site": _options(page, "#id_primary_site"), "grade": _options(page, "#id_who_grade")}
    margins = _options(page, "#id_resection_margin")
    assert_accessible(page)
    shots(page, "eligibility-code-lists")

    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/histopathology/")
    histopathology = {"site": _options(page, "#id_primary_site"), "grade": _options(page, "#id_who_grade")}
    assert_accessible(page)
    shots(page, "histopathology-code-lists")

    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/liver_resection/")
    assert _options(page, "#id_margin") == margins == ["R0", "R1", "R2 (debulking)"]
    shots(page, "liver-resection-margin")

    assert eligibility == histopathology == {"site": SITES, "grade": GRADES}
