"""Background work, run by `manage.py db_worker` (or inline with TASK_BACKEND=immediate)."""
from django_tasks import task

from .services import figures_refresh, report_chunk_run, report_generate, report_watch


@task()
def generate_report(report_id: str) -> None:
    report_generate(report_id=report_id)


@task()
def run_report_chunk(chunk_id: int) -> str:
    return report_chunk_run(chunk_id=chunk_id)


@task()
def watch_report(report_id: str) -> None:
    report_watch(report_id=report_id)


@task()
def refresh_figures(force: bool = False) -> int:
    return figures_refresh(skip_if_fresh=not force)
