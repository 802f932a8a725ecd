"""Requirement-to-test traceability: every high-risk requirement of docs/requirements.yaml has a
test, and every requirement a test names exists. Read from the test sources, so the check holds
whatever subset of the suite runs."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"requirement(?:_marks)?\(([^)]*)\)")
ID = re.compile(r'"(URS-[A-Z]+-\d{3})"')

pytestmark = pytest.mark.requirement("URS-OPS-003")


def requirements() -> list[dict]:
    return yaml.safe_load((ROOT / "docs" / "requirements.yaml").read_text())


def named_in_tests() -> dict[str, set[str]]:
    """Requirement id → test modules that name it."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for call in MARKER.findall(path.read_text()):
            for requirement in ID.findall(call):
                found.setdefault(requirement, set()).add(str(path.relative_to(ROOT)))
    return found


def test_requirements_are_well_formed_and_unique():
    rows = requirements()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate requirement ids"
    for row in rows:
        assert re.fullmatch(r"URS-[A-Z]+-\d{3}", row["id"]), row
        assert row["risk"] in ("high", "medium", "low") and row["text"] and row["reason"], row


def test_every_high_risk_requirement_has_a_test():
    named = named_in_tests()
    untested = [r["id"] for r in requirements() if r["risk"] == "high" and r["id"] not in named]
    assert not untested, f"high-risk requirements without a test: {untested}"


def test_tests_name_only_known_requirements():
    known = {r["id"] for r in requirements()}
    unknown = {rid: sorted(files) for rid, files in named_in_tests().items() if rid not in known}
    assert not unknown, f"tests name unknown requirements: {unknown}"


def test_the_check_would_catch_a_missing_test():
    rows = [*requirements(), {"id": "URS-ZZZ-999", "text": "x", "risk": "high", "reason": "y"}]
    named = named_in_tests()
    assert [r["id"] for r in rows if r["risk"] == "high" and r["id"] not in named] == ["URS-ZZZ-999"]
