"""Bounded fuzzing of every HTML form: no input answers 5xx (issue 19, finding 5).

The test opens every page (each argument-less URL, and every record page of the role × site
matrix, tests/<app>/matrix.py), finds each <form> in it and sends it, per form, a few generated
variants of its fields: the page's own values, random text, text over any model limit, a NUL
character, huge and negative integers, impossible dates. Hypothesis draws them with a fixed seed
and a bounded number of examples, so the run is the same in CI and takes well under a minute or
two. A 4xx, a page with messages, or a redirect are all fine; a 5xx is not.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, get_resolver, resolve, reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.requirements import requirement_marks
from tests.test_access_matrix import SITE_URLS

pytestmark = pytest.mark.django_db

# Pages that end the session or take minutes (whole-trial PDF and export renders run eagerly here).
SKIP_ACTIONS = {"accounts:logout", "accounts:login"}
EXAMPLES_PER_FORM = 3


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            method = (a.get("method") or "get").lower()
            self._current = {"action": a.get("action") or "", "method": method, "fields": {}}
            self.forms.append(self._current)
        elif self._current is not None and a.get("name"):
            fields = self._current["fields"]
            if tag == "input" and a.get("type") in ("submit", "button", "image", "file"):
                if a.get("type") == "submit" and a.get("value"):
                    fields.setdefault(a["name"], []).append(a["value"])
                return
            if tag in ("input", "textarea"):
                fields.setdefault(a["name"], []).append(a.get("value") or "")
            elif tag == "select":
                self._select = a["name"]
                fields.setdefault(a["name"], [])
            elif tag == "button" and a.get("value"):
                fields.setdefault(a["name"], []).append(a["value"])
        elif tag == "option" and self._current is not None and self._select:
            self._current["fields"][self._select].append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def _plain_pages() -> list[str]:
    """Every named URL without arguments, in every namespace."""
    urls = []

    def walk(patterns, namespace):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif pattern.name and "<" not in str(pattern.pattern) and "(?P" not in str(pattern.pattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                try:
                    urls.append(reverse(name))
                except Exception:  # noqa: S112 - patterns with regex groups are covered by the matrix
                    continue

    walk(get_resolver().url_patterns, None)
    # /healthz answers 503 by design when no worker beats (none runs here).
    return [u for u in urls if not u.startswith("/api/") and u not in ("/accounts/logout/", "/healthz")]


def _value_strategy(seen: list[str]):
    choices = [v for v in seen if v is not None]
    variants = [
        st.text(max_size=30),
        st.just("x" * 5000),  # over every CharField limit in the models
        st.just("reason\x00with a NUL"),
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
        st.sampled_from(["", "2026-13-45", "99999-01-01", "1.5e308", "NaN", "-1", "0"]),
    ]
    if choices:
        variants.insert(0, st.sampled_from(choices))
    return st.one_of(*variants)


def _fuzz_form(client: Client, page: str, form: dict, failures: list[str]) -> None:
    target = form["action"] or page
    path = urlsplit(target).path or page
    try:
        name = resolve(path).view_name
    except Resolver404:
        return
    if name in SKIP_ACTIONS or not form["fields"]:
        return
    strategy = st.fixed_dictionaries({field: _value_strategy(seen) for field, seen in form["fields"].items()})

    @given(data=strategy)
    @settings(
        max_examples=EXAMPLES_PER_FORM,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(data):
        response = client.post(path, data) if form["method"] == "post" else client.get(path, data)
        if response.status_code >= 500:
            failures.append(f"{form['method'].upper()} {path} ({name}) {response.status_code}: {data!r}"[:600])

    send()


@pytest.mark.postgres
def test_no_form_answers_5xx_to_generated_input(world, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    pages = _plain_pages()
    for url_name, (method, build) in sorted(SITE_URLS.items()):
        if method == "get":
            pages.append(reverse(url_name, kwargs=build(world.site_a)))
    failures: list[str] = []
    fuzzed: set[tuple[str, tuple]] = set()
    # Sysadmin last: fuzzing the account pages may deactivate the others.
    for role in ("nurse_a", "pi_a", "data_manager", "trial_manager", "statistician", "monitor", "sysadmin"):
        client = Client(raise_request_exception=False)
        client.force_login(getattr(world, role))
        for page in pages:
            response = client.get(page)
            if response.status_code >= 500:
                failures.append(f"GET {page} as {role}: {response.status_code}")
                continue
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            parser = _Forms()
            parser.feed(response.content.decode())
            for form in parser.forms:
                action_path = urlsplit(form["action"] or page).path or page
                key = (action_path.split("?")[0], tuple(sorted(form["fields"])))
                if key in fuzzed:
                    continue
                fuzzed.add(key)
                _fuzz_form(client, page, form, failures)
    assert len(fuzzed) >= 25, sorted(fuzzed)  # the crawl found the trial's forms, not an empty page
    assert not failures, "\n".join(failures[:40])


pytestmark = requirement_marks(pytestmark, "URS-SEC-005")
