"""Queries: raised by edit checks (and closed when the data no longer fire them) or by people;
answered, closed and re-opened."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_create, record_update
from core.errors import DomainError, NotPermitted
from core.policy import Action, can, require
from crf.locking import query_guard
from crf.models import (
    CrfForm,
    Query,
    QueryMessage,
)
from crf.validators import CheckResult

EDIT_CHECK_REASON = "Raised by an edit check"


def _query_on(form: CrfForm, field: str, text: str, **fields) -> Query:
    """An unsaved query on ``field`` of ``form``."""
    return Query(
        patient=form.patient,
        form_code=form.FORM_CODE,
        form_id=form.pk,
        visit_code=form.visit.code,
        field=field,
        text=text,
        **fields,
    )


def automatic_query(form: CrfForm, field: str, message: str) -> Query:
    """The (unsaved) query an edit check's soft failure raises on ``form``."""
    return _query_on(form, field, message, automatic=True)


RESOLVED_BY_DATA_CHANGE = "Resolved by data change: the edit check no longer fires."


def _raise_soft_queries(form: CrfForm, result: CheckResult) -> None:
    """Raise a query for each new soft finding, and close the open automatic queries whose finding
    is gone: the saved data no longer fires the check, so nothing is left to answer. Only queries
    an edit check raised close this way; a query a person raised stays until a person closes it."""
    findings = set(result.soft)
    open_queries = list(Query.objects.open().filter(form_code=form.FORM_CODE, form_id=form.pk))
    open_texts = {(q.field, q.text) for q in open_queries}
    for field, message in result.soft:
        if (field, message) not in open_texts:
            query = record_create(obj=automatic_query(form, field, message), actor=None, reason=EDIT_CHECK_REASON)
            audit_event_record(kind=AuditEvent.Kind.QUERY_RAISED, actor=None, target=query, summary=message)
            open_texts.add((field, message))
    for query in open_queries:
        if query.automatic and query.raised_by_id is None and (query.field, query.text) not in findings:
            query_close_resolved(query=query)


def query_close_resolved(*, query: Query) -> Query:
    """Close an automatic query by the system, with the audited note that a data change resolved it."""
    QueryMessage.objects.create(query=query, author=None, text=RESOLVED_BY_DATA_CHANGE)
    query = record_update(
        obj=query,
        data={"status": Query.Status.CLOSED, "closed_at": timezone.now()},
        actor=None,
        reason=RESOLVED_BY_DATA_CHANGE,
    )
    audit_event_record(kind=AuditEvent.Kind.QUERY_CLOSED, actor=None, target=query, summary=RESOLVED_BY_DATA_CHANGE)
    return query


@transaction.atomic
def query_raise(*, form: CrfForm, field: str, text: str, actor: User) -> Query:
    require(actor, Action.QUERY_RAISE, form.patient.site)
    query_guard()
    if field not in form.data_field_names():
        raise DomainError("Choose a field of this form.", field="field")
    if not text.strip():
        raise DomainError("Write the query.", field="text")
    query = record_create(obj=_query_on(form, field, text, raised_by=actor), actor=actor, reason="Query raised")
    audit_event_record(kind=AuditEvent.Kind.QUERY_RAISED, actor=actor, target=query, summary=text[:200])
    return query


@transaction.atomic
def query_answer(*, query: Query, text: str, actor: User) -> Query:
    require(actor, Action.QUERY_ANSWER, query.patient.site)
    query_guard()
    if query.status == Query.Status.CLOSED:
        raise DomainError("This query is closed.")
    if not text.strip():
        raise DomainError("Write the answer.", field="text")
    QueryMessage.objects.create(query=query, author=actor, text=text)
    return record_update(obj=query, data={"status": Query.Status.ANSWERED}, actor=actor, reason=f"Answered: {text}")


def query_may_close(*, query: Query, actor: User) -> bool:
    """Whether ``actor`` may close or re-open ``query``: any query (QUERY_CLOSE), or one they raised
    themselves (QUERY_CLOSE_OWN). Edit-check queries have no raiser: only QUERY_CLOSE closes them."""
    site = query.patient.site
    own = query.raised_by_id is not None and query.raised_by_id == actor.pk
    return can(actor, Action.QUERY_CLOSE, site) or (own and can(actor, Action.QUERY_CLOSE_OWN, site))


def query_close_check(*, query: Query, actor: User) -> None:
    if not query_may_close(query=query, actor=actor):
        raise NotPermitted("The person who raised the query, or the data manager, closes or re-opens it.")


@transaction.atomic
def query_close(*, query: Query, actor: User, text: str = "") -> Query:
    query_close_check(query=query, actor=actor)
    query_guard()
    if text:
        QueryMessage.objects.create(query=query, author=actor, text=text)
    query = record_update(
        obj=query,
        data={"status": Query.Status.CLOSED, "closed_at": timezone.now()},
        actor=actor,
        reason=text or "Closed",
    )
    audit_event_record(kind=AuditEvent.Kind.QUERY_CLOSED, actor=actor, target=query, summary=text[:200])
    return query


@transaction.atomic
def query_close_many(*, queries, actor: User, text: str) -> list[Query]:
    """Close each of ``queries`` (a queryset already cut to the actor's sites) with the same reason,
    each audited as query_close audits one; all or none."""
    require(actor, Action.QUERY_CLOSE)
    if not text.strip():
        raise DomainError("Give the reason for closing the queries.", field="text")
    # Rows locked in id order: two bulk closes over overlapping queries cannot deadlock.
    return [query_close(query=q, actor=actor, text=text) for q in queries.select_for_update().order_by("pk")]


@transaction.atomic
def query_reopen(*, query: Query, actor: User, text: str) -> Query:
    query_close_check(query=query, actor=actor)
    query_guard()
    if not text.strip():
        raise DomainError("Say why the query is re-opened.", field="text")
    QueryMessage.objects.create(query=query, author=actor, text=text)
    return record_update(
        obj=query, data={"status": Query.Status.OPEN, "closed_at": None}, actor=actor, reason=f"Re-opened: {text}"
    )
