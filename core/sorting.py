"""Server-side sorting of a list by a column the user clicks (``?sort=name`` or ``?sort=-name``).

Only the columns a list declares can be sorted on (a whitelist: the parameter never reaches
``order_by`` as such), each mapped to the ordering it means, with a unique key last so a page
boundary is stable. The headers carry ``aria-sort`` on the sorted column (WAI-ARIA 1.2 sortable
table pattern) and a link that reverses it. Written here rather than taken from django-tables2 or
django-filter: the lists keep their own templates and paging (core.paging); a library's table
rendering would replace them for the sake of one parameter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A list column: its header and, when sortable, the key and the ordering it means."""

    label: str
    key: str = ""
    order: tuple[str, ...] = ()
    classes: str = ""  # of the header cell (e.g. "text-end" over numbers)


@dataclass(frozen=True)
class Header:
    label: str
    url: str = ""  # empty for a column that does not sort
    aria_sort: str = ""  # "ascending" / "descending" on the sorted column, else empty
    classes: str = ""


@dataclass(frozen=True)
class Sorting:
    key: str
    descending: bool
    headers: list[Header]

    @property
    def param(self) -> str:
        return f"-{self.key}" if self.descending else self.key

    def order_by(self, columns: list[Column]) -> tuple[str, ...]:
        """The ordering asked for; empty when none was and the list keeps its own default order."""
        if not self.key:
            return ()
        order = next(c.order for c in columns if c.key == self.key)
        if not self.descending:
            return order
        # The last field is the tie-breaker: reversed too, so "descending" is the exact mirror.
        return tuple(f[1:] if f.startswith("-") else f"-{f}" for f in order)


def sorting(request, columns: list[Column], default: str = "") -> Sorting:
    """The sort the request asks for (or ``default``, "-key" for descending; "" keeps the list's
    own order, which may read from an index a column sort would not), and the headers."""
    asked = request.GET.get("sort", "") or default
    descending = asked.startswith("-")
    key = asked.lstrip("-")
    if key not in {c.key for c in columns if c.key}:
        key, descending = default.lstrip("-"), default.startswith("-")
    params = request.GET.copy()
    params.pop("page", None)  # a new order starts at the first page
    headers = []
    for column in columns:
        if not column.key:
            headers.append(Header(column.label, classes=column.classes))
            continue
        active = column.key == key
        params["sort"] = f"-{column.key}" if active and not descending else column.key
        headers.append(
            Header(
                column.label,
                url=f"?{params.urlencode()}",
                aria_sort=("descending" if descending else "ascending") if active else "",
                classes=column.classes,
            )
        )
    return Sorting(key, descending, headers)
