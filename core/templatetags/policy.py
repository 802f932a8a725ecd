"""Templates ask the permission policy, never a role: ``{% can "randomise" patient.site as may %}``."""

from django import template

from core import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def can(context, action: str, site=None) -> bool:
    """``core.policy.can`` for the requesting user (False without one)."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return policy.can(user, action, site)
