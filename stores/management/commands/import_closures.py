"""manage.py import_closures FILE.csv [--organization NAME]

One closure per row: `store_id` (that one store) or `group` (a group's
stores) or neither (every store of the organization), `start`, `end`,
`reason`, `every_year` (optional). Bad rows are reported by line number and
the rest imported; a row whose closure is already there (same organization,
target, period, every_year and reason) is not created again, so a second run
of the same file creates nothing.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Organization, StoreGroup
from core.closures import ClosurePeriod, PeriodInvalid, closure_period
from stores.loop_import import ImportSummary, csv_rows
from stores.models import Closure, Store
from stores.services import closure_create

REQUIRED_COLUMNS = ("start", "end", "reason")
REASON_MAX_LENGTH = Closure._meta.get_field("reason").max_length
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}  # empty is false

# What a closure covers: ("store", store pk), ("group", group pk) or ("organization",).
Target = tuple
# A closure's identity for idempotence: target, the period fields, every_year, reason.
ClosureKey = tuple


@dataclass
class ClosureImportSummary(ImportSummary):
    def __str__(self) -> str:
        return (
            f"{self.name}: {self.read:,} rows read, {self.created:,} created, "
            f"{self.skipped:,} already there, {self.refused:,} refused"
        )


def _every_year(text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"every_year must be true, false, 1, 0, yes, no or empty, not {text!r}")


def _period_key(period: ClosurePeriod, every_year: bool) -> tuple:
    """The period as Closure stores it (stores.services._closure_period_fields)."""
    if period.local:
        return (
            period.start.strftime("%Y-%m-%dT%H:%M:%S"),
            period.end.strftime("%Y-%m-%dT%H:%M:%S"),
            period.whole_days,
            None,
            None,
            every_year,
        )
    return ("", "", False, period.start.astimezone(dt.timezone.utc), period.end.astimezone(dt.timezone.utc), False)


def _existing_keys(organization: Organization) -> set[ClosureKey]:
    """The keys of the organization's closures that a row can name: one store,
    a group, or the whole organization (a closure of several listed stores is
    no row's closure)."""
    listed: dict[int, list[int]] = {}
    for closure_id, store_pk in Closure.stores.through.objects.filter(closure__organization=organization).values_list(
        "closure_id", "store_id"
    ):
        listed.setdefault(closure_id, []).append(store_pk)
    keys: set[ClosureKey] = set()
    for closure in Closure.objects.filter(organization=organization).only(
        "pk", "stores_given", "group_id", "start_local", "end_local", "whole_days", "start_at", "end_at", "every_year", "reason"
    ):
        if closure.stores_given:
            stores = listed.get(closure.pk, [])
            if len(stores) != 1:
                continue
            target: Target = ("store", stores[0])
        elif closure.group_id is not None:
            target = ("group", closure.group_id)
        else:
            target = ("organization",)
        period = (
            closure.start_local,
            closure.end_local,
            closure.whole_days,
            closure.start_at.astimezone(dt.timezone.utc) if closure.start_at else None,
            closure.end_at.astimezone(dt.timezone.utc) if closure.end_at else None,
            closure.every_year,
        )
        keys.add((target, period, closure.reason))
    return keys


def import_closures(*, organization: Organization, path: Path) -> ClosureImportSummary:
    """Read the file, then create its good rows' closures (those not already
    there) in one transaction: all of them or, on an unexpected error, none."""
    summary = ClosureImportSummary("closures")
    # Header names as written around a comma ("store_id, start") are the same names.
    rows = [(line, {(name or "").strip(): value for name, value in row.items()}) for line, row in csv_rows(path)]
    stores = {
        store.store_id: store
        for store in Store.objects.filter(
            organization=organization,
            store_id__in={(row.get("store_id") or "").strip() for _, row in rows} - {""},
        )
    }
    groups = {group.name: group for group in StoreGroup.objects.filter(organization=organization)}
    wanted: list[tuple[ClosureKey, dict]] = []
    for line, row in rows:
        summary.read += 1
        faults: list[str] = []
        store_id = (row.get("store_id") or "").strip()
        group_name = (row.get("group") or "").strip()
        target: Target = ("organization",)
        create_kwargs: dict = {}
        if store_id and group_name:
            faults.append("give store_id or group, not both")
        elif store_id:
            store = stores.get(store_id)
            if store is None:
                faults.append(f"unknown store id {store_id!r} in the organization {organization.name!r}")
            else:
                target, create_kwargs = ("store", store.pk), {"stores": [store]}
        elif group_name:
            group = groups.get(group_name)
            if group is None:
                faults.append(f"unknown group {group_name!r} in the organization {organization.name!r}")
            else:
                target, create_kwargs = ("group", group.pk), {"group": group}
        try:
            every_year = _every_year(row.get("every_year"))
        except ValueError as exc:
            faults.append(str(exc))
            every_year = False
        period = None
        try:
            period = closure_period((row.get("start") or "").strip(), (row.get("end") or "").strip(), every_year=every_year)
        except PeriodInvalid as exc:
            faults.append(f"invalid period: {exc}")
        reason = (row.get("reason") or "").strip()
        if not reason:
            faults.append("missing reason")
        elif len(reason) > REASON_MAX_LENGTH:
            faults.append(f"the reason has {len(reason)} characters, at most {REASON_MAX_LENGTH}")
        if faults:
            summary.refuse(line, "; ".join(faults))
            continue
        wanted.append(
            (
                (target, _period_key(period, every_year), reason),
                dict(create_kwargs, period=period, reason=reason, every_year=every_year),
            )
        )
    with transaction.atomic():
        # Locked, so two runs of one file at once cannot both create a closure.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        there = _existing_keys(organization)
        for key, kwargs in wanted:
            if key in there:
                summary.skipped += 1
                continue
            closure_create(organization=organization, created_by=None, **kwargs)
            there.add(key)
            summary.created += 1
    return summary


class Command(BaseCommand):
    help = (
        "Import closures from a CSV file with the columns store_id or group (one of them, or neither for "
        "every store of the organization), start, end, reason and every_year (optional: true/false/1/0/yes/no). "
        "start and end are dates (YYYY-MM-DD, the end day included), local times (YYYY-MM-DDTHH:MM[:SS], "
        "end excluded) or instants with Z or an offset. Bad rows are reported with their line numbers and "
        "the rest imported; a closure already there is not created again, so a second run changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the CSV file: store_id|group,start,end,reason[,every_year]")
        parser.add_argument(
            "--organization", help="the organization whose stores close (default: the only organization there is)"
        )

    def handle(self, *args, file: Path, organization: str | None, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        target = self._organization(organization)
        self._check_header(file)
        try:
            summary = import_closures(organization=target, path=file)
        except UnicodeDecodeError:
            raise CommandError(f"{file} is not UTF-8 text.") from None
        self._report(summary)

    @staticmethod
    def _organization(name: str | None) -> Organization:
        if name:
            try:
                return Organization.objects.get(name=name)
            except Organization.DoesNotExist:
                raise CommandError(f"No organization named {name!r}.") from None
        only = list(Organization.objects.order_by("pk")[:2])
        if len(only) != 1:
            raise CommandError(
                "Give --organization NAME: the organization whose stores close."
                if only
                else "There is no organization: create one first."
            )
        return only[0]

    @staticmethod
    def _check_header(path: Path) -> None:
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                header = [name.strip() for name in next(csv.reader(handle), [])]
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise CommandError(f"The header of {path} must name {', '.join(missing)} (found: {', '.join(header)}).")

    def _report(self, summary: ClosureImportSummary) -> None:
        self.stdout.write(str(summary))
        for line, reason in summary.errors:
            self.stdout.write(f"  line {line}: {reason}")
        if summary.refused > len(summary.errors):
            self.stdout.write(f"  … and {summary.refused - len(summary.errors):,} more refused rows")
