"""Send users who must use two-factor authentication to set-up or verification before anything else."""

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from .twofactor import has_two_factor, requires_two_factor

_OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/login/", "/static/", "/healthz")


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            settings.TWO_FACTOR_ENFORCED
            and user is not None
            and user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(_OPEN_PREFIXES)
        ):
            if has_two_factor(user):
                return redirect(f"{reverse('accounts:two_factor_verify')}?next={request.get_full_path()}")
            if requires_two_factor(user):
                return redirect(reverse("accounts:two_factor_setup"))
        return self.get_response(request)
