"""Login by username or e-mail, and the key django-axes counts failures against."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class EmailOrUsernameBackend(ModelBackend):
    """Accepts the username or the e-mail address in the username box (case-insensitive e-mail)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username and "@" in username:
            user = get_user_model().objects.filter(email__iexact=username.strip()).first()
            if user is None:
                # Run the hasher anyway so a missing account takes as long as a wrong password.
                get_user_model()().set_password(password)
                return None
            username = user.get_username()
        return super().authenticate(request, username=username, password=password, **kwargs)


def axes_username(request, credentials) -> str:
    """Count failures per account whichever of username or e-mail was typed."""
    typed = ""
    if credentials:
        typed = credentials.get("username", "") or ""
    elif request is not None:
        typed = request.POST.get("username", "")
    typed = typed.strip()
    if "@" in typed:
        user = get_user_model().objects.filter(email__iexact=typed).only("username").first()
        if user is not None:
            return user.username
    return typed.lower()
