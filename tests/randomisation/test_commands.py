"""The statistician's commands: the balance and integrity report, and the design simulation."""

import io
import json

import pytest
from django.core.management import call_command

from randomisation.services import patient_randomise

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-RAND-003", "URS-RAND-004")]


def test_randomisation_report_gives_balance_and_integrity(world, blocks_design, make_patient):
    for group in ("pancreas", "other", "pancreas", "pancreas"):
        patient_randomise(patient=make_patient(primary_site_group=group), actor=world.nurse_a)
    out = io.StringIO()
    call_command("randomisation_report", "--format", "json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["balance"]["total"] == 4
    assert report["balance"]["overall"]["A"] + report["balance"]["overall"]["B"] == 4
    assert report["integrity"]["ok"] is True and report["integrity"]["allocations"] == 4
    text = io.StringIO()
    call_command("randomisation_report", stdout=text)
    assert "List integrity: " in text.getvalue() and "Randomised: 4" in text.getvalue()


def test_simulation_compares_the_methods_and_minimisation_balances_best():
    out = io.StringIO()
    call_command(
        "randomisation_simulate", "--patients", "90", "--runs", "200", "--seed", "11", "--format", "json", stdout=out
    )
    results = {r["method"]: r for r in json.loads(out.getvalue())["results"]}
    assert set(results) == {"simple", "blocks", "minimisation"}
    worst = {m: r["worst_factor_level_abs_A_minus_B"]["mean"] for m, r in results.items()}
    print("mean worst factor-level |A-B| over 200 trials:", worst)
    assert worst["minimisation"] < worst["simple"] and worst["blocks"] < worst["simple"]
