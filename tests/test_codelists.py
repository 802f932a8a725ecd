"""One code list per concept (issue 21; architecture.md, Decisions), enforced from the code itself.

The lists are the ``TextChoices`` classes of each owner's ``codelists`` module. The test finds, by
itself, every other definition that could compete with one: every ``Choices`` class in the
project's code, every model field's and form field's choices, and every literal ``choices=[...]``
in the source; a new duplicate fails here without anyone adding it to a list. Overlap is judged on
codes: a list sharing two codes with a code list (or all of its codes) is that concept, and must be
the code list itself or a subset declared beside it (``SUBSETS``).

Expected codes are written from protocol.md, not printed by the code: CRF 6 primary site (stomach,
pancreas, duodenum, jejunum/ileum, appendix, colon/rectum) and WHO grade G1–G3; CRF 7 and
Eligibility margin R0/R1 and "R2 (debulking)"; Stratification: pancreas / other GEP, G1 / G2, R0 / R1.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from django import forms
from django.apps import apps
from django.conf import settings
from django.db import models

ROOT = Path(settings.BASE_DIR)
OWNERS = ["core", "patients", "randomisation", "crf", "safety", "reports", "sites", "accounts"]


def _first_party_apps() -> list[str]:
    return [a.name for a in apps.get_app_configs() if (ROOT / a.name.replace(".", "/")).is_dir()]


def _codelist_modules():
    found = []
    for name in _first_party_apps():
        if (ROOT / name / "codelists.py").exists():
            found.append(importlib.import_module(f"{name}.codelists"))
    return found


def _codelists() -> dict[str, type[models.Choices]]:
    """Concept name → its list, from every owner's codelists module (defined there, not imported)."""
    lists: dict[str, type[models.Choices]] = {}
    for module in _codelist_modules():
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, models.Choices) and obj.__module__ == module.__name__:
                assert name not in lists, f"{name} is defined in {lists[name].__module__} and {module.__name__}"
                lists[name] = obj
    return lists


def _subsets() -> list[tuple[type[models.Choices], tuple]]:
    out = []
    for module in _codelist_modules():
        for codelist, choices in getattr(module, "SUBSETS", {}).values():
            out.append((codelist, _norm(choices)))
    return out


def _norm(choices) -> tuple[tuple[str, str], ...]:
    return tuple((str(v), str(label)) for v, label in choices if v not in ("", None))


def _codes(choices) -> set[str]:
    return {v for v, _ in _norm(choices)}


def _same_concept(codes: set[str], codelist: type[models.Choices]) -> bool:
    mine = set(map(str, codelist.values))
    common = codes & mine
    return len(common) >= 2 or (bool(common) and (codes <= mine or mine <= codes))


def _problem(where: str, choices, lists, subsets) -> str | None:
    """Why ``choices`` is a second definition of a concept, or None."""
    normal = _norm(choices)
    if any(normal == _norm(c.choices) for c in lists.values()) or any(s == normal for _c, s in subsets):
        return None  # a code list itself, or one of its declared subsets
    for name, codelist in lists.items():
        if _same_concept(_codes(normal), codelist):
            return f"{where}: {list(normal)} redefines {codelist.__module__}.{name} {list(_norm(codelist.choices))}"
    return None


def _project_choices_classes():
    def walk(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    for cls in set(walk(models.Choices)):
        top = cls.__module__.split(".")[0]
        if top in OWNERS and cls.__module__.split(".")[-1] != "codelists":
            yield cls


def test_the_code_lists_hold_the_protocols_codes_and_labels():
    from patients.codelists import (
        STRATUM_MARGIN_CHOICES,
        STRATUM_WHO_GRADE_CHOICES,
        PrimarySite,
        PrimarySiteGroup,
        ResectionMargin,
        Sex,
        WhoGrade,
    )

    lists = _codelists()
    assert {"PrimarySite", "PrimarySiteGroup", "WhoGrade", "ResectionMargin", "Sex", "Arm"} <= set(lists)
    # Protocol CRF 6, plus the eligibility answer that fails inclusion 4.
    assert PrimarySite.values == [
        "stomach",
        "pancreas",
        "duodenum",
        "jejunum_ileum",
        "appendix",
        "colon_rectum",
        "other",
    ]
    assert PrimarySite.COLON_RECTUM.label == "Colon / rectum"
    assert PrimarySiteGroup.choices == [("pancreas", "Pancreas"), ("other", "Other GEP")]
    assert WhoGrade.values == ["G1", "G2", "G3"]
    assert WhoGrade.G1.label == "G1 (Ki-67 < 3 % and mitoses < 2)"
    assert ResectionMargin.choices == [("R0", "R0"), ("R1", "R1"), ("R2", "R2 (debulking)")]
    assert Sex.choices == [("F", "Female"), ("M", "Male")]
    assert [v for v, _ in STRATUM_WHO_GRADE_CHOICES] == ["G1", "G2"]
    assert [v for v, _ in STRATUM_MARGIN_CHOICES] == ["R0", "R1"]


def test_no_choices_class_outside_the_codelists_redefines_a_concept():
    lists, subsets = _codelists(), _subsets()
    problems = []
    for cls in _project_choices_classes():
        where = f"class {cls.__module__}.{cls.__qualname__}"
        if cls.__name__ in lists:
            problems.append(f"{where} has the name of the code list {lists[cls.__name__].__module__}")
        problem = _problem(where, cls.choices, lists, subsets)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)


def test_every_model_field_of_a_concept_takes_its_choices_from_the_one_code_list():
    lists, subsets = _codelists(), _subsets()
    problems, checked = [], set()
    for model in apps.get_models():
        if model.__module__.split(".")[0] not in OWNERS:
            continue
        for field in model._meta.get_fields():
            if getattr(field, "choices", None):
                problem = _problem(f"{model._meta.label}.{field.name}", field.choices, lists, subsets)
                if problem:
                    problems.append(problem)
                checked.add(f"{model._meta.label}.{field.name}")
    assert not problems, "\n".join(problems)
    # The fields issue 21 found coded two or three ways, live and in their history tables.
    assert {
        "patients.EligibilityAssessment.primary_site",
        "crf.Histopathology.primary_site",
        "crf.HistoricalHistopathology.primary_site",
        "crf.LiverResection.margin",
        "crf.Histopathology.who_grade",
        "patients.Patient.who_grade",
        "crf.LabReferenceRange.sex",
    } <= checked


def test_every_form_field_of_a_concept_takes_its_choices_from_the_one_code_list():
    lists, subsets = _codelists(), _subsets()
    problems, seen = [], 0
    for app in _first_party_apps():
        if not (ROOT / app / "forms.py").exists():
            continue
        module = importlib.import_module(f"{app}.forms")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, forms.BaseForm) and obj.__module__ == module.__name__:
                for field_name, field in obj.base_fields.items():
                    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
                        seen += 1
                        problem = _problem(f"{app}.forms.{name}.{field_name}", field.choices, lists, subsets)
                        if problem:
                            problems.append(problem)
    assert seen, "no form ChoiceField found: the scan is not looking where the forms are"
    assert not problems, "\n".join(problems)


def _literal_choices(path: Path):
    """Each ``choices=<literal list or tuple of (code, label) pairs>`` in a source file."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.keyword) or node.arg != "choices":
            continue
        value = node.value
        if isinstance(value, (ast.List, ast.Tuple)):
            pairs = []
            for element in value.elts:
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    pairs.append((element.value, element.value))
                elif isinstance(element, (ast.Tuple, ast.List)) and element.elts:
                    first = element.elts[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        pairs.append((first.value, "?"))
            if pairs:
                yield node.lineno, pairs


def test_no_literal_choices_in_the_source_repeat_a_code_list():
    lists = _codelists()
    problems = []
    for owner in OWNERS:
        for path in sorted((ROOT / owner).rglob("*.py")):
            if "migrations" in path.parts or path.name == "codelists.py":
                continue
            for line, pairs in _literal_choices(path):
                codes = {code for code, _label in pairs}
                for name, codelist in lists.items():
                    if _same_concept(codes, codelist):
                        problems.append(f"{path.relative_to(ROOT)}:{line} spells out {name}: use the code list")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "old",
    [
        # The definitions issue 21 found, as they were before it: each must be caught.
        [("stomach", "Stomach"), ("pancreas", "Pancreas"), ("duodenum", "Duodenum"), ("colorectum", "Colon / rectum")],
        [("G1", "G1"), ("G2", "G2"), ("G3", "G3")],
        [("G1", "G1 (Ki-67 < 3 %)"), ("G2", "G2 (Ki-67 3–20 %)"), ("G3", "G3 (Ki-67 > 20 %)")],
        [("R0", "R0"), ("R1", "R1"), ("R2", "R2")],
        [("A", "Best supportive care"), ("B", "Lutathera")],
    ],
)
def test_the_checks_catch_the_old_duplicates(old):
    assert _problem("old", old, _codelists(), _subsets()) is not None


def test_the_source_scan_reads_literal_choices(tmp_path):
    path = tmp_path / "old.py"
    path.write_text("margin = models.CharField(choices=[('R0', 'R0'), ('R1', 'R1'), ('R2', 'R2')])\n")
    [(line, pairs)] = list(_literal_choices(path))
    assert line == 1 and _same_concept({code for code, _ in pairs}, _codelists()["ResectionMargin"])
