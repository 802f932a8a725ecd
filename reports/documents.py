"""Rendering lives in core.documents (the domains build their documents with it without importing
reports, issue 21); re-exported here for the reports code that used it from here."""

from core.documents import RenderedPdf, render_pdf

__all__ = ["RenderedPdf", "render_pdf"]
