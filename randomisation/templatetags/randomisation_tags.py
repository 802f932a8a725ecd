from django import template

from core.policy import Action, can
from patients.selectors import patient_randomisation_blockers
from randomisation.models import Allocation

register = template.Library()


@register.inclusion_tag("randomisation/patient_panel.html", takes_context=True)
def randomisation_panel(context, patient):
    """The patient's allocation, or what stands in the way of randomising them (two queries)."""
    user = context["request"].user
    allocation = Allocation.objects.filter(patient=patient).select_related("randomised_by").first()
    return {
        "patient": patient,
        "allocation": allocation,
        "blockers": [] if allocation else patient_randomisation_blockers(patient),
        "can_randomise": allocation is None and can(user, Action.RANDOMISE, patient.site),
    }
