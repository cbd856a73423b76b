"""The faults of docs/errors.md: the database going away, two reports at
once, no room for report files. Tests marked `postgres` need PostgreSQL
(a real server connection to kill, real concurrent writers) and skip on
SQLite, saying why."""
from __future__ import annotations

import datetime as dt
import errno
import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError, close_old_connections, connection

from common.errors import DATABASE_UNAVAILABLE_MESSAGE, RETRY_AFTER_SECONDS
from reports.models import Report, ReportChunk, ReportStatus
from reports.tests.test_services import csv_text
from reports.tests.test_services_chunks import AS_OF, DATABASE_TASKS, STORE_IDS, one_chunk_csv, stores  # noqa: F401
from reports.tests.test_services_workers import wait_until_finished, workers  # noqa: F401
from stores.models import PollStatus, Store, StatusSpan
from stores.tests.factories import StatusSpanFactory, StoreFactory

from conftest import token_client

LATEST = dt.datetime(2024, 1, 8, 12, tzinfo=dt.timezone.utc)
DATABASE_UNAVAILABLE = {"code": "database_unavailable", "message": DATABASE_UNAVAILABLE_MESSAGE}


@pytest.fixture
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (a server connection to kill, concurrent writers); the database is {connection.vendor}")


# --------------------------------------------------------------------------
# The database goes away
# --------------------------------------------------------------------------


@pytest.fixture
def two_stores(owner):
    """s1 (latest poll at LATEST, one span; device key key-for-s1) and s2 (never polled)."""
    s1 = StoreFactory(store_id="s1", owner=owner, last_poll_at=LATEST, last_status=PollStatus.ACTIVE)
    StatusSpanFactory(store=s1, first_poll_at=LATEST, last_poll_at=LATEST)
    StoreFactory(store_id="s2", owner=owner)


# One poll extends s1's span (an UPDATE of spans), one opens s2's first (an
# INSERT); then polls_record writes the stores' rows.
BATCH = [
    {"id": "s1", "utc_timestamp": "2024-01-08T13:00:00Z", "status": "active"},
    {"id": "s2", "utc_timestamp": "2024-01-08T13:00:00Z", "status": "inactive"},
]


def unchanged(stores_before: list[tuple], spans_before: list[tuple]) -> bool:
    return stores_state() == stores_before and spans_state() == spans_before


def stores_state() -> list[tuple]:
    return list(Store.objects.order_by("store_id").values_list("store_id", "last_poll_at", "last_status"))


def spans_state() -> list[tuple]:
    return list(
        StatusSpan.objects.order_by("store__store_id", "first_poll_at").values_list(
            "store__store_id", "status", "first_poll_at", "last_poll_at", "poll_count"
        )
    )


def fail_at_the_stores_update(on_failure: Callable[[], None] | None = None):
    """An execute wrapper: the statements go through, up to polls_record's
    UPDATE of the stores' rows, its last write, which fails as a lost server
    would make it fail. Returns (wrapper, the statements seen)."""
    seen: list[str] = []
    store_table = connection.ops.quote_name(Store._meta.db_table)

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        if sql.startswith(f"UPDATE {store_table}"):
            if on_failure is not None:
                on_failure()  # the real thing: the statement fails in the driver
                return execute(sql, params, many, context)
            with connection.wrap_database_errors:  # as the driver's error would, marking the connection
                raise connection.Database.OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    return wrapper, seen


@pytest.mark.django_db(transaction=True)
def test_a_database_error_mid_batch_records_nothing_and_the_next_request_succeeds(owner, two_stores):
    api = token_client(owner)
    stores_before, spans_before = stores_state(), spans_state()
    wrapper, seen = fail_at_the_stores_update()

    with connection.execute_wrapper(wrapper):
        response = api.post("/poll", BATCH, format="json")

    assert response.status_code == 503
    assert response.json() == DATABASE_UNAVAILABLE
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    # The failure came after the spans were written: in the middle of the batch.
    span_table = connection.ops.quote_name(StatusSpan._meta.db_table)
    assert any(sql.startswith(f"UPDATE {span_table}") for sql in seen)
    assert any(sql.startswith(f"INSERT INTO {span_table}") for sql in seen)
    # ... and none of the batch stayed.
    assert unchanged(stores_before, spans_before)

    close_old_connections()  # as the end of a request does: the connection is checked, kept or replaced
    again = api.post("/poll", BATCH, format="json")

    assert again.status_code == 200
    assert [result["code"] for result in again.json()["results"]] == ["recorded", "recorded"]
    assert spans_state() == [
        ("s1", "active", LATEST, dt.datetime(2024, 1, 8, 13, tzinfo=dt.timezone.utc), 2),
        ("s2", "inactive", dt.datetime(2024, 1, 8, 13, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 8, 13, tzinfo=dt.timezone.utc), 1),
    ]


@pytest.mark.django_db
def test_a_database_error_while_authenticating_answers_503(two_stores, client):
    def down(execute, sql, params, many, context):
        raise OperationalError("could not connect to server: Connection refused")

    with connection.execute_wrapper(down):
        response = client.post(
            "/poll", json.dumps(BATCH[0]), content_type="application/json", headers={"X-Store-Key": "key-for-s1"}
        )

    assert response.status_code == 503
    assert response.json() == DATABASE_UNAVAILABLE
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def wsgi_post(path: str, body: object, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A request through Django's WSGI handler, as a server makes it: unlike
    the test client, it closes unusable connections when the request ends."""
    raw = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }
    answer: dict = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

    result = WSGIHandler()(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()  # request_finished: Django drops a connection that no longer works
    return answer["status"], answer["headers"], content


def kill_our_server_connection() -> None:
    """pg_terminate_backend of this thread's connection, from another one."""
    import psycopg

    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)


@pytest.fixture
def persistent_connection(monkeypatch):
    """Connections kept between requests (CONN_MAX_AGE, as in production):
    where a connection the server dropped would otherwise be used again."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    connection.close()
    connection.ensure_connection()


DEVICE = {"X-Store-Key": "key-for-s1"}


def poll_at(hour: int) -> dict:
    return {"id": "s1", "utc_timestamp": f"2024-01-08T{hour:02d}:00:00Z", "status": "active"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_between_requests_fails_one_request_then_is_replaced(
    needs_postgres, two_stores, persistent_connection
):
    assert wsgi_post("/poll", poll_at(13), DEVICE)[0] == 201
    before = connection.connection.info.backend_pid

    kill_our_server_connection()
    status, headers, content = wsgi_post("/poll", poll_at(14), DEVICE)

    assert status == 503
    assert json.loads(content) == DATABASE_UNAVAILABLE
    assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    # The broken connection is not kept. The device key's lookup being cached
    # (stores.device_keys), the request's first statement ran in its
    # transaction, and Django connects again as that ends; were it outside
    # one, the connection would be dropped when the request ended.
    assert connection.connection is None or connection.connection.info.backend_pid != before

    status, _, content = wsgi_post("/poll", poll_at(14), DEVICE)

    assert status == 201, content
    assert connection.connection.info.backend_pid != before
    assert Store.objects.get(store_id="s1").last_poll_at == dt.datetime(2024, 1, 8, 14, tzinfo=dt.timezone.utc)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_mid_batch_records_nothing_then_is_replaced(
    needs_postgres, owner, two_stores, persistent_connection
):
    token = token_client(owner)._credentials["HTTP_AUTHORIZATION"]
    stores_before, spans_before = stores_state(), spans_state()
    wrapper, _ = fail_at_the_stores_update(on_failure=kill_our_server_connection)

    with connection.execute_wrapper(wrapper):
        status, headers, content = wsgi_post("/poll", BATCH, {"Authorization": token})

    assert status == 503
    assert json.loads(content) == DATABASE_UNAVAILABLE
    assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert unchanged(stores_before, spans_before)

    status, _, content = wsgi_post("/poll", BATCH, {"Authorization": token})

    assert status == 200
    assert [result["code"] for result in json.loads(content)["results"]] == ["recorded", "recorded"]


# --------------------------------------------------------------------------
# Two reports at once
# --------------------------------------------------------------------------


def report_answer(api, report_id: str):
    return api.get(f"/get_report?report_id={report_id}")


@pytest.fixture
def trigger(django_capture_on_commit_callbacks):
    """POST /trigger_report as of AS_OF; the report is computed when the
    request's transaction commits (tasks run inline in tests)."""

    def post(api):
        with django_capture_on_commit_callbacks(execute=True):
            return api.post("/trigger_report", {"as_of": AS_OF.isoformat()}, format="json")

    return post


@pytest.mark.django_db
def test_a_report_triggered_twice_gives_two_complete_equal_reports(owner, one_chunk_csv, settings, trigger):
    settings.MONITOR_REPORT_CHUNK_SIZE = 2
    api = token_client(owner)

    first, second = trigger(api), trigger(api)

    assert first.status_code == second.status_code == 202
    ids = {first.json()["report_id"], second.json()["report_id"]}
    assert len(ids) == 2
    for report_id in ids:
        response = report_answer(api, report_id)
        assert response.status_code == 200
        assert b"".join(response.streaming_content).decode() == one_chunk_csv
    assert len({Report.objects.get(pk=report_id).file.name for report_id in ids}) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reports_triggered_at_the_same_instant_both_complete(needs_postgres, owner, one_chunk_csv, settings):
    """Two requests at once, each computing its report (tasks run inline) on
    its own connection, at the same time."""
    settings.MONITOR_REPORT_CHUNK_SIZE = 2
    barrier = threading.Barrier(2)
    answers: list = []
    errors: list[BaseException] = []

    def trigger() -> None:
        try:
            api = token_client(owner)
            barrier.wait(timeout=30)
            answers.append(api.post("/trigger_report", {"as_of": AS_OF.isoformat()}, format="json"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert [answer.status_code for answer in answers] == [202, 202]
    reports = Report.objects.filter(pk__in=[answer.json()["report_id"] for answer in answers])
    assert len(reports) == 2
    for report in reports:
        assert report.status == ReportStatus.COMPLETE, report.error
        assert csv_text(report) == one_chunk_csv
    assert not ReportChunk.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reports_at_once_share_the_workers_and_both_complete(
    needs_postgres, owner, one_chunk_csv, settings, workers  # noqa: F811
):
    """Two reports queued together, their one-store chunks interleaved across two task_worker processes."""
    settings.TASKS = DATABASE_TASKS
    api = token_client(owner)
    ids = [
        api.post("/trigger_report", {"as_of": AS_OF.isoformat()}, format="json").json()["report_id"] for _ in range(2)
    ]

    for report_id in ids:
        report = wait_until_finished(Report.objects.get(pk=report_id), workers)
        assert report.status == ReportStatus.COMPLETE, report.error
        assert report.stores_done == report.stores_total == len(STORE_IDS)
        assert csv_text(report) == one_chunk_csv


# --------------------------------------------------------------------------
# No room for report files
# --------------------------------------------------------------------------


def report_files(media_root) -> list[str]:
    return sorted(path.name for path in Path(media_root).rglob("*") if path.is_file())


@pytest.fixture
def full_disk(monkeypatch) -> list[str]:
    """FileSystemStorage writes the file's first bytes, then the disk is full
    (ENOSPC): as a real full disk, a half file stays behind. Returns the half
    files seen, right after the failure."""
    real_save = FileSystemStorage._save
    half_files: list[str] = []

    class FirstBytesThenFull:
        def __init__(self, content):
            self.content = content

        def chunks(self, chunk_size=None):
            yield self.content.read(10)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def save(storage, name, content):
        try:
            return real_save(storage, name, FirstBytesThenFull(content))
        except OSError:
            if os.path.exists(storage.path(name)):
                half_files.append(name)
            raise

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    return half_files


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("chunk_size", "whose"),
    [(1000, "owner"), (2, "owner"), (1000, "other_owner")],
    ids=["one chunk", "several chunks", "no stores, no chunk"],
)
def test_a_full_disk_fails_the_report_with_the_reason_and_no_half_file(
    request, stores, settings, tmp_path, full_disk, monkeypatch, trigger, chunk_size, whose  # noqa: F811
):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MONITOR_REPORT_CHUNK_SIZE = chunk_size
    api = token_client(request.getfixturevalue(whose))
    reason = "report storage unavailable: No space left on device"

    triggered = trigger(api)

    assert triggered.status_code == 202
    report = Report.objects.get(pk=triggered.json()["report_id"])
    assert report.status == ReportStatus.FAILED
    assert report.error == reason
    assert not report.file
    assert full_disk == [f"reports/report-{report.pk}.csv"]  # it was there, half written ...
    assert report_files(settings.MEDIA_ROOT) == []  # ... and is no more
    assert not ReportChunk.objects.filter(report=report).exists()
    answer = report_answer(api, str(report.pk))
    assert answer.status_code == 409
    assert answer.json() == {"code": "report_failed", "status": "Failed", "message": reason}

    monkeypatch.undo()  # room again: the next report is written
    again = trigger(api)
    assert report_answer(api, again.json()["report_id"]).status_code == 200


@pytest.fixture(params=["under a file", "read-only"])
def unwritable_media_root(request, tmp_path, settings) -> str:
    if request.param == "under a file":
        (tmp_path / "a-file").write_text("")
        settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")
        return "Not a directory"
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only directories")
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    settings.MEDIA_ROOT = str(read_only / "media")
    return "Permission denied"


@pytest.mark.django_db
def test_a_media_root_that_cannot_be_written_fails_the_report(owner, stores, unwritable_media_root, trigger):  # noqa: F811
    api = token_client(owner)

    triggered = trigger(api)

    report = Report.objects.get(pk=triggered.json()["report_id"])
    assert report.status == ReportStatus.FAILED
    assert report.error == f"report storage unavailable: {unwritable_media_root}"
    answer = report_answer(api, str(report.pk))
    assert answer.status_code == 409
    assert answer.json()["message"] == report.error


@pytest.mark.django_db
def test_a_missing_media_root_is_created(owner, stores, settings, tmp_path, trigger):  # noqa: F811
    settings.MEDIA_ROOT = str(tmp_path / "not-yet" / "media")
    api = token_client(owner)

    triggered = trigger(api)

    assert report_answer(api, triggered.json()["report_id"]).status_code == 200
    report_id = triggered.json()["report_id"]
    assert report_files(settings.MEDIA_ROOT) == [f"report-{report_id}-extended.csv", f"report-{report_id}.csv"]
