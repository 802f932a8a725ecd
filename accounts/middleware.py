"""Send users who must use two-factor authentication to set-up or verification before anything else."""

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from .twofactor import has_two_factor, requires_two_factor

_OPEN_PREFIXES = ("/accounts/logout/", "/accounts/login/", "/static/", "/healthz")
# Before verification a user with a device may only verify; the set-up page (which issues a new
# secret) is open only to a user who has no device yet. Letting all of /accounts/2fa/ through was
# the password-only bypass of issue 19.
_VERIFY_PATH = "/accounts/2fa/verify/"
_SETUP_PATH = "/accounts/2fa/setup/"


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
                if request.path != _VERIFY_PATH:
                    return redirect(f"{reverse('accounts:two_factor_verify')}?next={request.get_full_path()}")
            elif requires_two_factor(user) and request.path not in (_SETUP_PATH, _VERIFY_PATH):
                return redirect(reverse("accounts:two_factor_setup"))
        return self.get_response(request)
