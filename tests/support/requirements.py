"""Tagging tests with the user requirements they verify (docs/requirements.yaml)."""

import pytest


def requirement_marks(existing, *ids: str) -> list:
    """A module's ``pytestmark`` with a requirement marker added to the marks it already has."""
    marks = existing if isinstance(existing, list) else [existing]
    return [*marks, pytest.mark.requirement(*ids)]
