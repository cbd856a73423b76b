"""Reports: one CSV of uptime figures for the stores a user may see, as of an instant."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from common.ownership import OwnedQuerySet


class ReportStatus(models.TextChoices):
    RUNNING = "Running", "Running"
    COMPLETE = "Complete", "Complete"
    FAILED = "Failed", "Failed"


class ReportQuerySet(OwnedQuerySet):
    """A report is its requester's (and every superuser's) to see."""

    owner_field = "requested_by"


class Report(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports")
    as_of = models.DateTimeField()
    # Limits asked for at the trigger: the report covers the requester's
    # stores in this organization, or in this group (None: all they see).
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey("accounts.StoreGroup", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The group's name when asked for: a report whose group is deleted before
    # it is planned fails, rather than widening to everything the requester sees.
    group_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=8, choices=ReportStatus.choices, default=ReportStatus.RUNNING)
    stores_total = models.PositiveIntegerField(default=0)
    stores_done = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="reports/", blank=True)
    # The same rows with the extended columns too (?columns=extended); empty for reports made before them.
    extended_file = models.FileField(upload_to="reports/", blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Report {self.id} ({self.status})"


class StoreFigures(models.Model):
    """The engine's figures for one store as of the dashboard's last refresh.

    Denormalised (as healthchecks keeps a check's status on its row) so the
    dashboard sorts, filters and totals thousands of stores in SQL; the values
    are exactly what a CSV report as of the same instant gives.
    """

    store = models.OneToOneField("stores.Store", on_delete=models.CASCADE, primary_key=True, related_name="figures")
    as_of = models.DateTimeField()
    # Microseconds inside business hours, as the engine returns them.
    uptime_last_hour = models.BigIntegerField(default=0)
    uptime_last_day = models.BigIntegerField(default=0)
    uptime_last_week = models.BigIntegerField(default=0)
    downtime_last_hour = models.BigIntegerField(default=0)
    downtime_last_day = models.BigIntegerField(default=0)
    downtime_last_week = models.BigIntegerField(default=0)
    # The part of the downtime with no signal, and the business hours closures removed.
    no_signal_last_hour = models.BigIntegerField(default=0)
    no_signal_last_day = models.BigIntegerField(default=0)
    no_signal_last_week = models.BigIntegerField(default=0)
    closed_last_hour = models.BigIntegerField(default=0)
    closed_last_day = models.BigIntegerField(default=0)
    closed_last_week = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "store figures"
        indexes = [
            models.Index(fields=["-downtime_last_week"], name="figures_downtime_week"),
            # figures_as_of (every dashboard request): the latest as_of by one index lookup, not a scan.
            models.Index(fields=["as_of"], name="figures_as_of"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} as of {self.as_of:%Y-%m-%d %H:%M}"


class FiguresRefresh(models.Model):
    """One row: whether a refresh of the dashboard figures is queued (or
    running), so that every process and every page view queues at most one
    between them (reports.services.figures_request_refresh)."""

    ROW = 1
    id = models.PositiveSmallIntegerField(primary_key=True, default=ROW)
    # Set when a refresh is queued, cleared when it ends; one older than the
    # refresh period is taken for lost (its worker died, or none runs).
    queued_at = models.DateTimeField(null=True, blank=True)
    # A person asked for it ("Refresh"): it runs even if the figures are fresh.
    forced = models.BooleanField(default=False)
    # The batches of the background refresh not done yet (figures_batch_task):
    # the last one clears queued_at.
    batches_left = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "figures refresh"

    def __str__(self) -> str:
        return f"figures refresh queued at {self.queued_at}" if self.queued_at else "no figures refresh queued"


class ChunkState(models.TextChoices):
    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    DONE = "done", "done"


class ReportChunk(models.Model):
    """A slice of a report's stores, computed by one task; the report's CSV is
    its chunks' rows in index order. Exists only while its report runs.

    A worker claims a chunk for a lease; a worker that dies (SIGKILL, OOM)
    leaves it running with an expired lease, and the sweep queues it again
    (reports.services.reports_sweep): django-tasks-db never retries a task
    whose worker died, it leaves the task "running" for ever.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    # The chunk's stores in CSV order, fixed when the report is planned, so
    # every attempt computes the same rows whichever worker runs it.
    store_pks = models.JSONField()
    state = models.CharField(max_length=8, choices=ChunkState.choices, default=ChunkState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True, help_text="host:pid of the last worker to claim it")
    # The chunk's CSV lines, saved in the transaction that marks it done.
    # This and store_pks are stored uncompressed on PostgreSQL (migration 0010).
    rows = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="why the last attempt did not finish")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Not by report: that would join (and lock, with select_for_update) the report's row.
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["report", "index"], name="report_chunk_index")]
        # The sweep's question: which running chunks have an expired lease?
        indexes = [models.Index(fields=["state", "lease_until"], name="report_chunk_lease")]

    def __str__(self) -> str:
        return f"{self.report_id} chunk {self.index} ({self.state})"
