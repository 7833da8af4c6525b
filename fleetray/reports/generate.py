"""Generating a weekly report: figures from the database, plots, HTML and PDF into the object store, a row to find them.

The objects are written before the row, so a report that is listed can always be downloaded. A complete
week's report is made once and then served as stored; a week still running is made anew on each request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fleetray.reports.figures import WeeklyFigures, weekly_figures
from fleetray.reports.plots import report_plots
from fleetray.reports.render import render_html, render_pdf
from fleetray.reports.week import ReportWeek
from fleetray.storage.reports import get_report, save_report, tenants_without_report

if TYPE_CHECKING:
    from fleetray.objectstore import ObjectStore
    from fleetray.storage import Database

WEEKLY = "weekly"


@dataclass(frozen=True)
class StoredReport:
    """A generated report: its figures and where its HTML and PDF are."""

    figures: WeeklyFigures
    html_key: str
    pdf_key: str
    generated_by: str

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> StoredReport:
        return cls(WeeklyFigures.model_validate(row["figures"]), row["html_key"], row["pdf_key"], row["generated_by"])


def report_keys(tenant_id: str, week: ReportWeek) -> tuple[str, str]:
    prefix = f"reports/{tenant_id}/{WEEKLY}/{week.label}/report"
    return f"{prefix}.html", f"{prefix}.pdf"


def generate_weekly_report(
    db: Database,
    store: ObjectStore,
    tenant_id: str,
    week: ReportWeek,
    *,
    now: datetime | None = None,
    generated_by: str = "on demand",
) -> StoredReport:
    """Make the report of ``tenant_id``'s ``week`` (so far, if it is still running) and store it.

    Raises:
        ReportError: the tenant does not exist.
    """
    now = now or datetime.now(UTC)
    with db.connect() as conn:
        figures = weekly_figures(conn, tenant_id, week, now=now)
    plots = report_plots(figures)
    html_key, pdf_key = report_keys(tenant_id, week)
    store.put(html_key, render_html(figures, plots).encode())
    store.put(pdf_key, render_pdf(figures, plots))
    with db.connect() as conn:
        save_report(
            conn,
            {
                "tenant_id": tenant_id,
                "kind": WEEKLY,
                "period": week.label,
                "complete": figures.complete,
                "generated_at": figures.generated_at,
                "generated_by": generated_by,
                "html_key": html_key,
                "pdf_key": pdf_key,
                "figures": figures.model_dump(mode="json"),
            },
        )
    return StoredReport(figures, html_key, pdf_key, generated_by)


def weekly_report(
    db: Database, store: ObjectStore, tenant_id: str, week: ReportWeek, *, now: datetime | None = None
) -> StoredReport:
    """The stored report of a complete week, or one made now (the first time, or for a week still running)."""
    with db.connect() as conn:
        row = get_report(conn, tenant_id, WEEKLY, week.label)
    if row is not None and row["complete"]:
        return StoredReport.of_row(row)
    return generate_weekly_report(db, store, tenant_id, week, now=now)


def generate_missing_reports(db: Database, store: ObjectStore, *, now: datetime | None = None) -> list[str]:
    """Every tenant's report of the last full week that is not stored yet; returns the tenants done."""
    now = now or datetime.now(UTC)
    week = ReportWeek.last_full(now)
    with db.connect() as conn:
        tenants = tenants_without_report(conn, WEEKLY, week.label)
    for tenant_id in tenants:
        generate_weekly_report(db, store, tenant_id, week, now=now, generated_by="weekly job")
    return tenants
