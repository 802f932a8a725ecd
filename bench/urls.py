from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import include, path

from sites.models import Site


@login_required
def bare(request):
    """The framework's own ceiling: a login-checked page of similar size with one query."""
    return render(request, "bench/bare.html", {"sites": list(Site.objects.all()[:50]), "rows": range(60)})


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), path("", include("nelmas.urls"))]
