"""Randomising through the API under concurrency: threads against a live server on PostgreSQL,
each patient asked for twice at once, allocates each patient exactly once."""

import json
import threading
import urllib.request

import pytest

from accounts.api_tokens import api_token_create
from randomisation.models import Allocation, Slot
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_api_randomisations_allocate_each_patient_once(live_server, world, blocks_design, make_patient):
    patients = [make_patient(primary_site_group=g) for g in ["pancreas", "other"] * 6]
    key = api_token_create(user=world.nurse_a, name="concurrency")[1]
    results, errors = [], []
    barrier = threading.Barrier(len(patients) * 2)

    def randomise(trial_number):
        request = urllib.request.Request(  # noqa: S310 - http to the live test server
            f"{live_server.url}/api/v1/patients/{trial_number}/randomise/",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            barrier.wait()
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the live test server
                results.append((trial_number, json.loads(response.read())))
        except Exception as exc:
            errors.append((trial_number, repr(exc)))

    threads = [threading.Thread(target=randomise, args=(p.trial_number,)) for p in patients for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2 * len(patients)  # every request answered
    by_patient = {}
    for trial_number, body in results:
        by_patient.setdefault(trial_number, set()).add((body["arm"], body["randomised_at"], body["stratum"]))
    assert all(len(answers) == 1 for answers in by_patient.values())  # both calls got the same allocation
    assert Allocation.objects.count() == len(patients)
    used = Slot.objects.filter(allocation__isnull=False)
    assert used.count() == len(patients) == len({s.pk for s in used})


pytestmark = requirement_marks(pytestmark, "URS-RAND-001", "URS-API-002")
