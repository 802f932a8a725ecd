from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import include, path

from sites.models import Site


@login_required
def bare(request):
    """The framework's own ceiling: a login-checked page with one query, about 15 KB like the
    pages measured (5.7 KB CRF form to 24 KB patient page)."""
    return render(request, "bench/bare.html", {"sites": list(Site.objects.all()[:50]), "rows": range(200)})


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), path("", include("nelmas.urls"))]
