"""Who may do what. Trial-wide roles live on the user; site roles come from the delegation log.

The vocabulary of the permission policy (core.policy), so it sits beside it in core. The model
fields that use these choices (User.trial_role, Delegation.role) keep their values in their
migrations, not a reference to this module, so the module could move without a migration.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TrialRole(models.TextChoices):
    """Roles held across the whole trial, independent of any site."""

    NONE = "", _("None (site staff only)")
    TRIAL_MANAGER = "trial_manager", _("Trial manager")
    DATA_MANAGER = "data_manager", _("Data manager")
    MONITOR = "monitor", _("Monitor")
    STATISTICIAN = "statistician", _("Statistician")
    # Codes verbatim AE terms in MedDRA: a duty of its own, not the data manager's (ICH E2B(R3);
    # MedDRA Term Selection: Points to Consider, coding by trained coders).
    MEDICAL_CODER = "medical_coder", _("Medical coder")
    SYSADMIN = "sysadmin", _("System administrator")


class SiteRole(models.TextChoices):
    """Roles held at one site, granted by an entry in that site's delegation log."""

    PRINCIPAL_INVESTIGATOR = "pi", _("Principal investigator")
    SUB_INVESTIGATOR = "sub_investigator", _("Sub-investigator (medically qualified)")
    RESEARCH_NURSE = "nurse", _("Research nurse")


# Trial-wide roles that read trial data at every site. The system administrator manages accounts
# and sees no trial data (least privilege). The medical coder codes the AEs of every site.
ALL_SITES_ROLES = frozenset(
    {
        TrialRole.TRIAL_MANAGER,
        TrialRole.DATA_MANAGER,
        TrialRole.MONITOR,
        TrialRole.STATISTICIAN,
        TrialRole.MEDICAL_CODER,
    }
)
# Site roles allowed to act as investigator (eligibility confirmation, SAE assessment, sign-off).
INVESTIGATOR_ROLES = frozenset({SiteRole.PRINCIPAL_INVESTIGATOR, SiteRole.SUB_INVESTIGATOR})
