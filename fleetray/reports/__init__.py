"""Weekly fleet reports per tenant: utilisation, cleaned area, downtime, alerts, battery health, components due.

Made from the platform's own tables (:mod:`fleetray.reports.figures`), drawn with matplotlib, written as a
self-contained HTML page and a PDF, kept in the object store. ``fleetray report`` makes one on demand,
``GET /v1/reports/weekly/{week}`` serves them, and the platform's report job makes last week's every Monday.
"""

from fleetray.reports.generate import (
    StoredReport,
    generate_missing_reports,
    generate_weekly_report,
    weekly_report,
)
from fleetray.reports.week import ReportWeek

__all__ = ["ReportWeek", "StoredReport", "generate_missing_reports", "generate_weekly_report", "weekly_report"]
