"""Policy table rows for the page that shows an inspector what the system enforces."""

from __future__ import annotations

from .policy import POLICY, Action, Duty
from .roles import SiteRole, TrialRole

# Columns of the policy table: site roles (which need the duty) first, then trial-wide roles, each
# with a short heading so that all eight fit beside the action on a laptop screen.
SHORT = {
    SiteRole.PRINCIPAL_INVESTIGATOR: "PI",
    SiteRole.SUB_INVESTIGATOR: "Sub-I",
    SiteRole.RESEARCH_NURSE: "Nurse",
    TrialRole.TRIAL_MANAGER: "TM",
    TrialRole.DATA_MANAGER: "DM",
    TrialRole.MONITOR: "Monitor",
    TrialRole.STATISTICIAN: "Stats",
    TrialRole.MEDICAL_CODER: "Coder",
    TrialRole.SYSADMIN: "Admin",
}
ROLE_COLUMNS: list[tuple[str, str, str]] = [
    *((role.value, str(role.label), SHORT[role]) for role in SiteRole),
    *((role.value, str(role.label), SHORT[role]) for role in TrialRole if role),
]


def policy_rows() -> list[dict]:
    """One row per action: its label, the duty it needs of site staff, and per role column
    "yes", "duty" (a site role holding the duty) or "" — read from POLICY, nothing else."""
    duty_labels = dict(Duty.choices)
    rows = []
    for action in Action:
        rule = POLICY[action]
        cells = []
        for role, _label, _short in ROLE_COLUMNS:
            if role in rule.trial_roles:
                cells.append("yes")
            elif role in rule.site_roles:
                cells.append("duty" if rule.duty else "yes")
            else:
                cells.append("")
        rows.append(
            {
                "action": action.value,
                "label": str(action.label),
                "duty": str(duty_labels[rule.duty]) if rule.duty else "",
                "cells": cells,
                "source": rule.source,
            }
        )
    return rows
