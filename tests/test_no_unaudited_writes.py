"""No write to a history-tracked model bypasses its history (issue 19, build point 2).

``QuerySet.update()``, ``bulk_update``, ``bulk_create`` and raw SQL write rows without
django-simple-history seeing them, so the field-level audit trail (21 CFR 11.10(e)) would miss the
change. This scan reads the product code's syntax tree: any such call on a tracked model, and any
raw UPDATE/DELETE/INSERT/TRUNCATE, fails unless the module is one of the paths below that write
the history rows themselves.
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from simple_history.models import HistoricalChanges

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_DIRS = ["accounts", "core", "sites", "patients", "randomisation", "crf", "safety", "reports", "demo", "nelmas"]
BULK_METHODS = {"update", "bulk_update", "bulk_create", "raw", "extra"}
SQL_WRITES = ("UPDATE ", "DELETE ", "INSERT ", "TRUNCATE ", "DISABLE TRIGGER")

# Paths that write the history rows of what they bulk-write, with the reason.
HISTORY_WRITING_PATHS = {
    # The simulated-trial bulk loader inserts one history row per step next to every row it writes.
    "demo/bulk_entry.py",
    # Installs the append-only triggers (DDL, no data).
    "core/append_only.py",
}


def _tracked_model_names() -> set[str]:
    names = set()
    for model in apps.get_models():
        if issubclass(model, HistoricalChanges) or hasattr(model, "history"):
            names.add(model.__name__)
    return names


def _root_model(node: ast.AST) -> str | None:
    """``Model`` for a call chain ``Model.objects.….update(…)`` (or ``Model.history``)."""
    previous = None
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            previous, node = node.attr, node.value
        elif isinstance(node, ast.Name):
            return node.id if previous in ("objects", "history", "_default_manager", "_base_manager") else None
        else:
            return None


def _string_of(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if isinstance(node, ast.BinOp):
        return _string_of(node.left) + _string_of(node.right)
    return ""


def unaudited_writes(source: str, tracked: set[str]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr in BULK_METHODS:
            model = _root_model(node.func.value)
            if model in tracked:
                found.append((node.lineno, f"{model}….{node.func.attr}()"))
        elif node.func.attr in ("execute", "executemany") and node.args:
            sql = _string_of(node.args[0]).upper()
            if any(keyword in sql for keyword in SQL_WRITES):
                found.append((node.lineno, "raw SQL write"))
    return found


def _product_files():
    for folder in PRODUCT_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_the_scanner_finds_each_kind_of_bypass():
    """The scanner must be able to fail: each pattern the issue names is caught, a history-writing
    save and a dict update are not."""
    source = """
Patient.objects.filter(pk=1).update(status="x")
RandomisationConfig.objects.filter(pk=1).update(frozen_at=now)
Visit.objects.bulk_update(visits, ["done_on"])
Visit.objects.bulk_create(visits)
Patient.objects.raw("SELECT 1")
cursor.execute("UPDATE patients_patient SET status = 'x'")
cursor.execute(f"DELETE FROM {table} WHERE id = %s", [1])
data.update(other)
Slot.objects.bulk_create(slots)
record_update(obj=patient, data={}, actor=None, reason="r")
cursor.execute("SELECT 1")
"""
    tracked = _tracked_model_names()
    assert {"Patient", "RandomisationConfig", "Visit"} <= tracked and "Slot" not in tracked
    assert [line for line, _ in unaudited_writes(source, tracked)] == [2, 3, 4, 5, 6, 7, 8]


@pytest.mark.requirement("URS-AUD-001")
def test_product_code_writes_tracked_models_only_through_history_writing_paths():
    tracked = _tracked_model_names()
    offenders = []
    for path in _product_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative in HISTORY_WRITING_PATHS:
            continue
        for line, what in unaudited_writes(path.read_text(), tracked):
            offenders.append(f"{relative}:{line} {what}")
    assert offenders == []
