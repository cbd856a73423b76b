import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stores.models import Store
from stores.store_ids import is_store_id, store_id_suggestion
from stores.services import StoreRenameRefused, stores_rename

COLUMNS = ("old_store_id", "new_store_id")


class Command(BaseCommand):
    help = (
        "Rename stores whose ids break the store id rule (1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the "
        "first a letter or a digit), as migration stores.0004 asks. --template FILE writes a mapping "
        "(old_store_id,new_store_id) with a suggested new id for each such store; edit it, then give it "
        "as MAPPING to apply it: all renames or none. The devices of renamed stores must then post with "
        "the new id."
    )

    def add_arguments(self, parser):
        parser.add_argument("mapping", nargs="?", type=Path, help="CSV file with old_store_id,new_store_id")
        parser.add_argument("--template", type=Path, help="write a mapping for every id outside the rule to this file")

    def handle(self, *args, mapping: Path | None, template: Path | None, **options):
        if (mapping is None) == (template is None):
            raise CommandError("Give either a MAPPING file to apply or --template FILE to write one.")
        if template is not None:
            self._write_template(template)
        else:
            self._apply(mapping)

    def _write_template(self, path: Path) -> None:
        ids = list(Store.objects.order_by().values_list("store_id", flat=True))
        taken = set(ids)
        rows = []
        for store_id in sorted(store_id for store_id in ids if not is_store_id(store_id)):
            new = store_id_suggestion(store_id, taken=taken)
            taken.add(new)
            rows.append((store_id, new))
        # Every field quoted: the old ids may hold commas, quotes or line breaks.
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        self.stdout.write(f"{len(rows)} store id(s) break the rule; mapping written to {path}.")

    def _apply(self, path: Path) -> None:
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if tuple(header or ()) != COLUMNS:
                    raise CommandError(f"{path}: the header must be {','.join(COLUMNS)}.")
                renames: dict[str, str] = {}
                for record in reader:
                    if len(record) != 2:
                        raise CommandError(f"{path}, line {reader.line_num}: expected 2 fields, found {len(record)}.")
                    old, new = record
                    if old in renames:
                        raise CommandError(f"{path}, line {reader.line_num}: {old!r} is renamed twice.")
                    renames[old] = new
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        try:
            count = stores_rename(renames=renames)
        except StoreRenameRefused as exc:
            raise CommandError(f"Nothing was renamed: {exc}") from None
        self.stdout.write(f"Renamed {count} store(s).")
