"""Randomisation writes: configuration versions, lists, and the allocation itself."""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_create, record_update
from core.errors import DomainError
from core.notifications import notification_queue
from core.policy import Action, require
from core.roles import TrialRole
from patients.models import Patient
from patients.selectors import patient_randomisation_blockers, randomisation_timing
from sites.models import Delegation, Site

from . import design
from .generator import SeededCsprng, new_seed, seed_problem
from .models import FACTOR_LEVELS, Allocation, AllocationList, Method, RandomisationConfig, Slot, StratumCursor
from .signals import patient_randomised

DEFAULT_FACTORS = ["primary_site", "who_grade", "resection_margin"]
SITE_FACTOR = "site"


def active_config() -> RandomisationConfig | None:
    return RandomisationConfig.objects.filter(is_active=True).order_by("-number").first()


def config_strata(config: RandomisationConfig) -> list[str]:
    sites = list(Site.objects.order_by("code").values_list("code", flat=True)) if config.stratify_by_site else []
    return design.strata(config.factors, FACTOR_LEVELS, sites)


@transaction.atomic
def config_save(*, actor: User, data: dict, reason: str = "") -> RandomisationConfig:
    """Create the first configuration or change it; once frozen, a change is a new version."""
    require(actor, Action.RANDOMISATION_SETUP)
    unknown = set(data.get("factors", [])) - set(FACTOR_LEVELS)
    if unknown:
        raise DomainError(f"Unknown stratification factor(s): {', '.join(sorted(unknown))}.", field="factors")
    if data.get("block_sizes") and any(size % 2 or size < 2 for size in data["block_sizes"]):
        raise DomainError("Block sizes must be even (1:1 ratio), e.g. 2, 4, 6.", field="block_sizes")
    current = RandomisationConfig.objects.select_for_update().filter(is_active=True).order_by("-number").first()
    if current is None:
        config = RandomisationConfig(
            number=1, created_by=actor, reason=reason or "Initial design", minimisation_seed=new_seed(), **data
        )
        record_create(obj=config, actor=actor, reason="Randomisation configured")
        return config
    if current.frozen_at is None:
        return record_update(obj=current, data=data, actor=actor, reason=reason)
    if not reason.strip():
        raise DomainError(
            "The design is frozen since the first randomisation: give the reason for a new version.", field="reason"
        )
    record_update(obj=current, data={"is_active": False}, actor=actor, reason=f"Superseded: {reason}")
    fields = {
        f: getattr(current, f)
        for f in (
            "method",
            "factors",
            "stratify_by_site",
            "block_sizes",
            "target",
            "headroom_percent",
            "minimisation_probability",
            "imbalance",
        )
    }
    config = RandomisationConfig(
        number=current.number + 1, created_by=actor, reason=reason, minimisation_seed=new_seed(), **{**fields, **data}
    )
    record_create(obj=config, actor=actor, reason=f"New version: {reason}")
    return config


def _store_list(
    *, config: RandomisationConfig, rows: list[design.ListRow], source: str, seed: str, actor: User
) -> AllocationList:
    if config.frozen_at is not None:
        raise DomainError("Patients have been randomised with this design: make a new version before a new list.")
    # One by one through record_update so each deactivation leaves its history row (issue 19).
    for previous in AllocationList.objects.filter(config=config, is_active=True).order_by("pk"):
        record_update(obj=previous, data={"is_active": False}, actor=actor, reason=f"Replaced by a new list ({source})")
    checksum = hashlib.sha256(design.list_to_csv(rows).encode()).hexdigest()
    allocation_list = record_create(
        obj=AllocationList(config=config, source=source, seed=seed, sha256=checksum, created_by=actor),
        actor=actor,
        reason=f"List {source}",
    )
    Slot.objects.bulk_create(
        Slot(
            allocation_list=allocation_list,
            stratum=r.stratum,
            sequence=r.sequence,
            block_number=r.block_number,
            block_size=r.block_size,
            arm=r.arm,
        )
        for r in rows
    )
    StratumCursor.objects.bulk_create(
        StratumCursor(allocation_list=allocation_list, stratum=s) for s in sorted({r.stratum for r in rows})
    )
    audit_event_record(
        kind=AuditEvent.Kind.RECORD_CHANGED,
        actor=actor,
        target=allocation_list,
        summary=f"Allocation list {source}: {len(rows)} slots, SHA-256 {checksum[:12]}…",
    )
    return allocation_list


def slots_per_stratum(config: RandomisationConfig) -> int:
    """Every stratum can take the whole target plus the headroom: a list never runs out early."""
    return math.ceil(config.target * (100 + config.headroom_percent) / 100)


@transaction.atomic
def list_generate(*, actor: User, seed: str = "") -> AllocationList:
    require(actor, Action.RANDOMISATION_SETUP)
    config = active_config()
    if config is None or config.method != Method.BLOCKS:
        raise DomainError("The active design is not generated permuted blocks.")
    seed = seed or new_seed()
    problem = seed_problem(seed)
    if problem:
        raise DomainError(problem, code="weak_seed", field="seed")
    rng = SeededCsprng(seed, label="nelmas-list")
    rows = design.generate_blocks(rng, config_strata(config), slots_per_stratum(config), config.block_sizes)
    return _store_list(config=config, rows=rows, source="generated", seed=seed, actor=actor)


@transaction.atomic
def list_import(*, actor: User, text: str) -> AllocationList:
    require(actor, Action.RANDOMISATION_SETUP)
    config = active_config()
    if config is None or config.method != Method.IMPORTED:
        raise DomainError("The active design does not use an imported list.")
    rows, errors = design.parse_list_csv(text, config_strata(config))
    if errors:
        raise DomainError("The list was not imported: " + " ".join(errors[:20]), code="invalid_list", field="file")
    return _store_list(config=config, rows=rows, source="imported", seed="", actor=actor)


def _allocate_from_list(config: RandomisationConfig, stratum: str) -> tuple[str, Slot]:
    allocation_list = AllocationList.objects.filter(config=config, is_active=True).first()
    if allocation_list is None:
        raise DomainError("No allocation list is loaded: the statistician must generate or import it.")
    # Lock order (fixed everywhere): patient row, then the stratum's cursor row. The cursor lock
    # serialises randomisations within a stratum, so the next position is taken exactly once.
    cursor = StratumCursor.objects.select_for_update().filter(allocation_list=allocation_list, stratum=stratum).first()
    if cursor is None:
        raise DomainError(f"The allocation list has no stratum {stratum}.")
    slot = Slot.objects.filter(allocation_list=allocation_list, stratum=stratum, sequence=cursor.next_sequence).first()
    if slot is None:
        raise DomainError(f"The allocation list of stratum {stratum} is used up: tell the statistician.")
    cursor.next_sequence += 1
    cursor.save(update_fields=["next_sequence"])
    return slot.arm, slot


def _allocate_by_minimisation(config: RandomisationConfig, patient: Patient) -> tuple[str, str]:
    # Lock the configuration row: minimisation depends on every earlier allocation, so it runs
    # one at a time.
    RandomisationConfig.objects.select_for_update().get(pk=config.pk)
    levels = {f: patient.stratification_factors()[f] for f in config.factors}
    field = {
        "primary_site": "patient__primary_site_group",
        "who_grade": "patient__who_grade",
        "resection_margin": "patient__resection_margin",
        SITE_FACTOR: "patient__site__code",
    }
    # "Stratify by site" makes the site one more factor of the imbalance sum (Pocock & Simon 1975
    # treat the institution as a prognostic factor like any other), so a site's own arms stay balanced.
    if config.stratify_by_site:
        levels[SITE_FACTOR] = patient.site.code
    counts: dict[str, dict[str, dict[str, int]]] = {}
    allocations = Allocation.objects.filter(config__number__lte=config.number)
    for factor in levels:
        rows = allocations.values(field[factor], "arm").annotate(n=Count("id"))
        for row in rows:
            counts.setdefault(factor, {}).setdefault(row[field[factor]], {})[row["arm"]] = row["n"]
    # Reproducible: the n-th minimisation of this design draws the n-th values of its seeded stream.
    rng = SeededCsprng(config.minimisation_seed, label=f"min-{allocations.count()}")
    return design.minimisation_choice(
        counts,
        levels,
        measure=config.imbalance,
        probability=float(config.minimisation_probability),
        rng_value=rng.random(),
        tie_value=rng.random(),
    )


def patient_randomise(*, patient: Patient, actor: User, late_reason: str = "") -> Allocation:
    """Allocate an arm to an eligible, consented patient with every factor recorded.

    Idempotent: a repeat call returns the existing allocation. Refused with the reasons otherwise.
    Later than the protocol's limit after liver resection (patients.selectors.randomisation_timing)
    it needs ``late_reason``, the protocol deviation recorded on the allocation.
    """
    with transaction.atomic():
        locked = Patient.objects.select_for_update().select_related("site").get(pk=patient.pk)
        # Before the idempotent repeat: a repeat call by someone without the duty learns nothing.
        require(actor, Action.RANDOMISE, locked.site)
        existing = Allocation.objects.filter(patient=locked).first()
        if existing is not None:
            return existing
        blockers = patient_randomisation_blockers(locked)
        if blockers:
            raise DomainError("Not randomised: " + " ".join(blockers), code="not_randomisable")
        timing = randomisation_timing(locked, timezone.localdate())
        late_reason = late_reason.strip() if timing.deviation else ""
        if timing.deviation and not late_reason:
            raise DomainError(f"Not randomised: {timing.message}", code="late_randomisation", field="late_reason")
        config = active_config()
        if config is None:
            raise DomainError("Randomisation is not configured yet.")
        stratum = design.stratum_of(
            locked.stratification_factors(), config.factors, locked.site.code if config.stratify_by_site else ""
        )
        slot, minimising = None, ""
        if config.uses_list():
            arm, slot = _allocate_from_list(config, stratum)
        else:
            arm, minimising = _allocate_by_minimisation(config, locked)
        now = timezone.now()
        allocation = record_create(
            obj=Allocation(
                patient=locked,
                arm=arm,
                randomised_at=now,
                randomised_by=actor,
                stratum=stratum,
                config=config,
                slot=slot,
                minimising_arm=minimising,
                late_reason=late_reason,
            ),
            actor=actor,
            reason=f"Randomised late (protocol deviation): {late_reason}" if late_reason else "Randomised",
        )
        if config.frozen_at is None:
            # Re-read under the row lock: two first randomisations at once freeze the design once,
            # at the first one's time, and the freeze is in the design's history (issue 19).
            current = RandomisationConfig.objects.select_for_update().get(pk=config.pk)
            if current.frozen_at is None:
                record_update(
                    obj=current, data={"frozen_at": now}, actor=actor, reason="Design frozen by the first randomisation"
                )
        record_update(
            obj=locked, data={"status": Patient.Status.RANDOMISED}, actor=actor, reason=f"Randomised to arm {arm}"
        )
        audit_event_record(
            kind=AuditEvent.Kind.RANDOMISED,
            actor=actor,
            target=locked,
            summary=f"{locked.trial_number} randomised to arm {arm} (stratum {stratum})",
            detail={"allocation_id": allocation.pk, "stratum": stratum, "late_reason": late_reason},
        )
        patient_randomised.send(sender=Allocation, allocation=allocation, actor=actor)
        _notify(allocation)
    patient.status = Patient.Status.RANDOMISED
    return allocation


def _notify(allocation: Allocation) -> None:
    """Confirmation to the site's staff and the trial managers: trial number and arm, no names."""
    patient = allocation.patient
    site_staff = User.objects.filter(pk__in=Delegation.objects.current().filter(site=patient.site).values("user_id"))
    managers = User.objects.filter(trial_role=TrialRole.TRIAL_MANAGER, is_active=True)
    link = settings.EDC_BASE_URL.rstrip("/") + reverse(
        "patients:patient_detail", kwargs={"trial_number": patient.trial_number}
    )
    body = (
        f"{patient.trial_number} was randomised on {allocation.randomised_at:%d %b %Y %H:%M} UTC.\n"
        f"Arm: {allocation.get_arm_display()}\nStratum: {allocation.stratum}\n\n{link}\n"
    )
    for user in {*site_staff, *managers}:
        notification_queue(
            kind="randomisation",
            dedupe_key=f"randomised:{allocation.pk}:{user.pk}",
            subject=f"NELMAS: {patient.trial_number} randomised",
            body=body,
            recipient=user,
            site_code=patient.site.code,
        )
