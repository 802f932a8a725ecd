"""Domain errors raised by services; views, commands and the API turn them into messages."""


class DomainError(Exception):
    """A rule of the trial refused the action. ``field`` names the form field it belongs to."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class ReasonRequired(DomainError):
    code = "reason_required"

    def __init__(self, message: str = "Give a reason for changing saved data.") -> None:
        super().__init__(message, field="reason")


class EditConflict(DomainError):
    """Someone else saved the record after this user opened it (optimistic version check)."""

    code = "edit_conflict"

    def __init__(self, message: str, *, changes: list[tuple[str, object, object]]) -> None:
        super().__init__(message)
        self.changes = changes


class NotPermitted(DomainError):
    code = "not_permitted"
