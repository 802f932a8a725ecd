from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.audit import audit_event_record
from accounts.models import AuditEvent
from accounts.permissions import trial_role_required
from accounts.roles import TrialRole

from .access import access_generated_file
from .models import GeneratedFile
from .services import generated_file_request


@login_required
def generated_file_detail(request, file_id):
    generated = access_generated_file(user=request.user, file_id=file_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"status": generated.status, "progress": generated.progress})
    return render(request, "reports/generated_file.html", {"generated": generated})


@login_required
def generated_file_download(request, file_id):
    generated = access_generated_file(user=request.user, file_id=file_id)
    if generated.status != GeneratedFile.Status.DONE:
        raise Http404
    audit_event_record(
        kind=AuditEvent.Kind.EXPORTED,
        actor=request.user,
        target=generated,
        site_code=generated.site.code if generated.site_id else "",
        summary=f"Downloaded {generated.filename}",
        detail={"sha256": generated.sha256},
    )
    return FileResponse(generated.file.open("rb"), as_attachment=True, filename=generated.filename)


@require_POST
@trial_role_required(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR)
def blank_crf_book_request(request):
    generated = generated_file_request(kind=GeneratedFile.Kind.BLANK_CRF_BOOK, actor=request.user)
    return redirect("reports:generated_file", file_id=generated.pk)
