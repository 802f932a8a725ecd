"""Files the EDC generates (PDF CRFs, casebooks, SAE forms, exports), each with its SHA-256."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sites.models import Site


class GeneratedFileQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Trial-wide files (no site) for trial-wide roles; a site's files for whoever sees the site."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        sites = Site.objects.visible_to(user)
        scoped = models.Q(site__in=sites)
        if user.sees_all_sites:
            return self.filter(scoped | models.Q(site__isnull=True))
        return self.filter(scoped)


class GeneratedFile(models.Model):
    class Kind(models.TextChoices):
        BLANK_CRF_BOOK = "blank_crf_book", _("Blank CRF book")
        CASEBOOK = "casebook", _("Patient casebook")
        DATASET_EXPORT = "dataset_export", _("Dataset export (zip)")
        SAE_REPORT = "sae_report", _("SAE report form")
        EXPORT = "export", _("Dataset export")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")  # requested; a worker has not started it
        RUNNING = "running", _("Rendering")  # a worker is rendering it; see progress
        DONE = "done", _("Ready")  # file stored with its hash
        FAILED = "failed", _("Failed")  # rendering raised; see error

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    # Scope: the site whose staff may download it (None: trial-wide roles only).
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # What was rendered: e.g. the trial number or SAE id, and a digest of the data at render time, so a
    # change to the data is seen as "out of date" and regenerated.
    subject = models.CharField(max_length=64, blank=True)
    source_digest = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to="generated/%Y/%m/", blank=True)
    filename = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = GeneratedFileQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["kind", "subject"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject}".strip()


class LockSnapshotFile(models.Model):
    """One file of a dataset lock's export, stored the first time that lock is exported (or when it
    is unlocked, whichever comes first) so every later export of the lock gives the same bytes
    (protocol.md "Locks and sign-off"). Written once, never changed."""

    lock = models.ForeignKey("crf.DatasetLock", on_delete=models.PROTECT, related_name="+")
    fmt = models.CharField(max_length=8)  # csv, odm, xpt, sav, dta, or meta (row counts)
    name = models.CharField(max_length=100)
    file = models.FileField(upload_to="snapshots/")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lock", "name"]
        constraints = [models.UniqueConstraint(fields=["lock", "name"], name="one_snapshot_file_per_lock_name")]

    def __str__(self) -> str:
        return f"Lock {self.lock_id} {self.name}"
