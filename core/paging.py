"""Page-numbered lists for every long table (patients, queries): a fixed number of rows a page and
one COUNT, so a list costs the same at 90 patients and at 10,000, and nothing beyond the first page
is silently cut off."""

from django.core.paginator import Paginator

PER_PAGE = 50


def paginate(request, rows, per_page: int | None = None) -> dict:
    """Context for ``includes/pagination.html``: the requested page of ``rows`` (an out-of-range or
    junk number gives the nearest page), the page numbers to offer, and the other GET parameters as
    a query string so that the page links keep the filters."""
    page = Paginator(rows, per_page or PER_PAGE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return {
        "page": page,
        "page_range": list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)),
        "params": params.urlencode(),
    }
