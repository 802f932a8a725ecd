"""Personal API tokens: create (shown once), authenticate (hash lookup), revoke. Audited.

Written by hand: DRF's TokenAuthentication stores tokens in clear text, one per user, without
expiry; Knox would add a dependency for what is a hash lookup and two dates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.audit import audit_event_record
from core.errors import DomainError, NotPermitted
from core.policy import Action, can

from .models import ApiToken, AuditEvent, User

TOKEN_PREFIX = "nel_"  # noqa: S105 - a public marker that tells NELMAS tokens apart, not a secret


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Returns the token row and the token itself, which is never stored or shown again."""
    if not user.is_active:
        raise NotPermitted("An inactive account cannot have API tokens.")
    if not name.strip():
        raise DomainError("Name the token (what will use it).", field="name")
    days = days or getattr(settings, "API_TOKEN_DAYS", 90)
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=key[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8],
        key_hash=_hash(key),
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    audit_event_record(kind=AuditEvent.Kind.API_TOKEN_CREATED, actor=user, summary=f"API token {token} created")
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    if token.user_id != actor.pk and not can(actor, Action.ACCOUNT_MANAGE):
        raise NotPermitted("Only its owner or the system administrator revokes a token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_event_record(kind=AuditEvent.Kind.API_TOKEN_REVOKED, actor=actor, summary=f"API token {token} revoked")
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0] not in (self.keyword, "Token"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the token after 'Bearer'.")
        key = header[1]
        token = ApiToken.objects.select_related("user").filter(key_hash=_hash(key)).first()
        if token is None or not token.active or not token.user.is_active:
            reason = "unknown" if token is None else "revoked" if token.revoked_at else "expired or user inactive"
            audit_event_record(
                kind=AuditEvent.Kind.API_TOKEN_REFUSED,
                actor=token.user if token else None,
                summary=f"API token refused: {reason}",
                detail={"prefix": key[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8]},
                ip_address=request.META.get("REMOTE_ADDR"),
            )
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token authentication in the OpenAPI schema."""

    target_class = "accounts.api_tokens.ApiTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token: nel_…"}
