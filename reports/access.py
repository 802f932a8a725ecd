from django.shortcuts import get_object_or_404

from .models import GeneratedFile


def access_generated_file(*, user, file_id: int) -> GeneratedFile:
    return get_object_or_404(GeneratedFile.objects.visible_to(user).select_related("site"), pk=file_id)
