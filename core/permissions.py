"""View guards that read the permission policy (core.policy) for pages not about one site's
records (those load through access_* first, which answers 404 outside the user's scope)."""

from functools import wraps

from django.contrib.auth.decorators import login_required

from core.policy import Action, deny_unless


def action_required(action: Action):
    """Log-in required, then 403 unless ``core.policy.can(user, action)`` (at some site)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            deny_unless(request.user, action)
            return view(request, *args, **kwargs)

        wrapped.policy_action = action
        return wrapped

    return decorator


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")
