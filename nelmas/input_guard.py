"""Refuse NUL characters in submitted text before any view sees them.

PostgreSQL cannot store U+0000 in text: psycopg raises ValueError, which was a 500 wherever a view
passed a raw POST value on (issue 19: reasons, token names, actions). Django's form fields already
refuse it at the field; this is the net under every other value. The answer is a 400 naming the
fields, as a page for the browser and in the API's JSON error shape under /api/; nothing is saved.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _fields_with_nul(query_dict) -> list[str]:
    return sorted({key for key, values in query_dict.lists() for v in [key, *values] if "\x00" in v})


class RejectNulCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        fields = _fields_with_nul(request.GET)
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            fields += _fields_with_nul(request.POST)
        if not fields:
            return self.get_response(request)
        message = _("The text you sent contains a NUL character, which cannot be stored. Remove it and send again.")
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "invalid", "message": message, "fields": {name: [message] for name in fields}}, status=400
            )
        return render(request, "errors/400.html", {"message": message, "fields": fields}, status=400)
