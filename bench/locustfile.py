"""The mixed load of `make bench`: 20 users on the 10,000-patient trial, as locust runs them.

Nurses open their patient list, patient pages, visits and CRFs and save a CRF; the trial manager and
the data manager watch the dashboards and the query list; every user also opens the bare view now
and then, so the framework's ceiling is measured under the same load in the same run. Each user
waits 0.5–1.5 s between clicks (people read pages; a nurse clicking once a second is already a busy
clinic), so the latencies are those of a busy server, not of a queue of a saturated one — the
saturation throughput is measured separately by bench/run.py.

Run by bench/run.py (BENCH_PLAN names the pages and patients); not imported by pytest (locust
monkey-patches the standard library with gevent).
"""

import json
import os
import re
from itertools import count

from locust import FastHttpUser, between, task

PASSWORD = "nelmas-demo-2026"  # noqa: S105 - the demo accounts' password
PLAN = json.loads(os.environ.get("BENCH_PLAN", "{}"))
_serial = count()
VERSION = re.compile(rb'name="version" value="(\d+)"')
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Staff(FastHttpUser):
    abstract = True
    username = ""
    wait_time = between(0.5, 1.5)

    def on_start(self):
        page = self.client.get("/accounts/login/", name="login")
        token = CSRF.search(page.content).group(1).decode()
        self.client.post(
            "/accounts/login/",
            data={"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": self.host + "/accounts/login/"},
            name="login",
        )

    def page(self, name: str) -> None:
        self.client.get(PLAN["pages"][name], name=name)

    @task(1)
    def bare(self):
        self.page("bare view (ceiling)")


class Nurse(Staff):
    weight = 14
    username = "nurse.gb01"

    def on_start(self):
        super().on_start()
        patients = PLAN["nurse_patients"]
        self.patient = patients[next(_serial) % len(patients)]  # one patient per user: no edit conflicts
        self.weight_kg = 60

    @task(2)
    def patient_list(self):
        self.page("patient list")

    @task(3)
    def patient_page(self):
        self.page("patient page")

    @task(2)
    def visit_page(self):
        self.page("visit page")

    @task(3)
    def crf_get(self):
        self.page("CRF form (GET)")

    @task(2)
    def home(self):
        self.page("nurse home")

    @task(1)
    def crf_post(self):
        """Open the patient's demographics and save a corrected weight with a reason."""
        url = f"/crf/patients/{self.patient}/RAND/demographics/"
        form = self.client.get(url, name="CRF form (GET)")
        version = VERSION.search(form.content).group(1).decode()
        token = CSRF.search(form.content).group(1).decode()
        self.weight_kg = 61 if self.weight_kg == 60 else 60
        with self.client.post(
            url,
            data={
                "ethnicity": "white",
                "height_cm": "170",
                "weight_kg": str(self.weight_kg),
                "version": version,
                "reason": "Transcription error corrected",
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": self.host + url},
            name="CRF form (POST)",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:  # a saved form redirects; 200 means the form was refused
                response.failure(f"not saved ({response.status_code})")


class TrialManager(Staff):
    weight = 3
    username = "tm"

    @task(2)
    def recruitment(self):
        self.page("recruitment dashboard")

    @task(2)
    def data_quality(self):
        self.page("data-quality dashboard")


class DataManager(Staff):
    weight = 3
    username = "dm"

    @task(3)
    def queries(self):
        self.page("query list")

    @task(2)
    def record_status_grid(self):
        self.page("record status grid")

    @task(1)
    def data_quality(self):
        self.page("data-quality dashboard")
