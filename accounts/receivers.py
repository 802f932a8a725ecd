"""Adapters from Django's and django-axes' authentication signals to the audit trail."""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from core.audit import audit_event_record

from .models import AuditEvent


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in, dispatch_uid="audit_login")
def _on_login(sender, request, user, **kwargs):
    audit_event_record(kind=AuditEvent.Kind.LOGIN, actor=user, target=user, ip_address=_ip(request))


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_event_record(kind=AuditEvent.Kind.LOGOUT, actor=user, target=user, ip_address=_ip(request))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    typed = (credentials or {}).get("username", "")
    user_model = get_user_model()
    user = user_model.objects.filter(username=typed).first() or (
        user_model.objects.filter(email__iexact=typed).first() if "@" in typed else None
    )
    audit_event_record(
        kind=AuditEvent.Kind.LOGIN_FAILED,
        actor=None,
        target=user,
        summary=f"Failed login for '{typed[:100]}'",
        ip_address=_ip(request),
    )


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def _on_locked_out(sender, request, username, ip_address, **kwargs):
    user = get_user_model().objects.filter(username=username).first()
    audit_event_record(
        kind=AuditEvent.Kind.LOCKED_OUT,
        actor=None,
        target=user,
        summary=f"Account '{username}' locked after repeated failed logins",
        ip_address=ip_address,
    )
