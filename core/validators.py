"""Field validators shared by every app's forms."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _


def not_in_future(value) -> None:
    """A date of something that has already happened cannot be after today."""
    if value is not None and value > timezone.localdate():
        raise ValidationError(_("This date is in the future. Enter the date it happened."), code="future")
