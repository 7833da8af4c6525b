"""Weekly fleet reports: the figures from known records, the HTML and PDF, the CLI, the API and the weekly job."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from fleetray.cli.app import app
from fleetray.config import get_settings, load_settings
from fleetray.errors import ReportError
from fleetray.inventory import RobotRecord, SiteRecord, TenantRecord
from fleetray.objectstore import ObjectStore
from fleetray.reports import ReportWeek, generate_missing_reports, generate_weekly_report, weekly_report
from fleetray.reports.figures import weekly_figures
from fleetray.storage import Database
from fleetray.storage.api_keys import create_key
from fleetray.storage.fleet import upsert_robots, upsert_sites, upsert_tenant

WEEK = ReportWeek(2026, 47)  # Monday 16 to Monday 23 November 2026
AFTER = datetime(2026, 12, 1, 12, tzinfo=UTC)


def at(day: int, hour: float) -> datetime:
    """A moment in November 2026 (UTC)."""
    return datetime(2026, 11, day, tzinfo=UTC) + timedelta(hours=hour)


def _fleet(conn: object) -> None:
    for tenant, name in (("acme", "Acme Cleaning"), ("globex", "Globex")):
        upsert_tenant(conn, TenantRecord(tenant_id=tenant, name=name))
        upsert_sites(conn, [SiteRecord(tenant_id=tenant, site_id=f"{tenant}-hq", name="HQ")])
    upsert_robots(
        conn,
        [
            RobotRecord(
                tenant_id="acme", robot_id=r, manufacturer="Gausium", model="Phantas", serial=r, site_id="acme-hq"
            )
            for r in ("r1", "r2")
        ]
        + [RobotRecord(tenant_id="globex", robot_id="g1", manufacturer="Tennant", model="T380", serial="g1")],
    )


def _tasks(conn: object) -> None:
    rows = [
        ("acme", "t1", "r1", "acme-hq", "completed", 1000.0, None, at(17, 8), at(17, 10)),
        ("acme", "t2", "r1", "acme-hq", "completed", 500.0, None, at(15, 23), at(16, 1)),  # began the week before
        ("acme", "t3", "r2", "acme-hq", "failed", 200.0, "component_failure", at(18, 9), at(18, 9.5)),
        ("acme", "t4", "r2", "acme-hq", "completed", 300.0, None, at(22, 23), at(23, 1)),  # ends the week after
        ("globex", "g-t1", "g1", "globex-hq", "completed", 99999.0, None, at(17, 8), at(17, 20)),
    ]
    for tenant, task, robot, site, status, area, reason, started, finished in rows:
        conn.execute(
            "INSERT INTO tasks (tenant_id, task_id, robot_id, site_id, status, cleaned_m2, reason, started_at, "
            "finished_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (tenant, task, robot, site, status, area, reason, started, finished, finished),
        )
        conn.execute(
            "INSERT INTO task_events (tenant_id, robot_id, seq, ts, task_id, type, payload) "
            "VALUES (%s, %s, %s, %s, %s, 'started', '{}')",
            (tenant, robot, int(started.timestamp()), started, task),
        )


def _events(conn: object) -> None:
    rows = [
        ("acme", "r2", at(18, 9.5), "ERROR", "E_BRUSH_JAM", "main_brush"),
        ("acme", "r2", at(18, 10), "ERROR", "E_SUCTION", "vacuum"),  # while already down: the same episode
        ("acme", "r2", at(18, 12.5), "INFO", "MAINTENANCE_COMPLETED", None),
        ("acme", "r1", at(15, 23.5), "ERROR", "E_WHEEL", "wheels"),  # down across the week's start
        ("acme", "r1", at(16, 2), "INFO", "MAINTENANCE_COMPLETED", None),
        ("acme", "r1", at(21, 20), "FATAL", "E_CLIFF", None),  # still down when the week ends
        ("acme", "r1", at(19, 3), "WARNING", "BATTERY_LOW", "battery"),
        ("acme", "r1", at(19, 4), "WARNING", "BATTERY_LOW", "battery"),
        ("globex", "g1", at(17, 1), "ERROR", "E_BRUSH_JAM", "main_brush"),
    ]
    for seq, (tenant, robot, ts, level, code, component) in enumerate(rows):
        conn.execute(
            "INSERT INTO events (tenant_id, robot_id, seq, ts, level, code, component) VALUES (%s, %s, %s, %s, %s, "
            "%s, %s)",
            (tenant, robot, seq, ts, level, code, component),
        )


def _alerts(conn: object) -> None:
    predicted = {"components": {"main_brush": 0.91}}
    rows = [
        ("acme", "r1", "battery_low", "warning", "resolved", at(17, 10), at(17, 10.5), at(17, 11), {}),
        ("acme", "r2", "battery_low", "warning", "acknowledged", at(18, 10), at(18, 11.5), None, {}),
        ("acme", "r2", "offline", "critical", "resolved", at(19, 0), None, at(19, 1), {}),
        ("acme", "r1", "maintenance_due", "warning", "active", at(20, 0), None, None, predicted),
        ("globex", "g1", "offline", "critical", "active", at(17, 0), None, None, {}),
    ]
    for tenant, robot, rule, severity, state, raised, acknowledged, resolved, details in rows:
        conn.execute(
            "INSERT INTO alerts (tenant_id, robot_id, rule, severity, state, raised_at, acknowledged_at, "
            "resolved_at, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (tenant, robot, rule, severity, state, raised, acknowledged, resolved, Jsonb(details)),
        )


def _rollups_and_maintenance(conn: object) -> None:
    minutes = [
        ("acme", "r1", at(10, 0), "metrics.battery_cycles", 90.0),  # before the week
        ("acme", "r1", at(16, 1), "metrics.battery_cycles", 100.0),
        ("acme", "r1", at(22, 23), "metrics.battery_cycles", 107.5),
        ("acme", "r2", at(18, 12), "metrics.battery_cycles", 50.0),
        ("acme", "r1", at(22, 23), "components.main_brush.usage_h", 50.0),
        ("acme", "r2", at(22, 22), "components.main_brush.usage_h", 105.0),
        ("globex", "g1", at(22, 22), "components.main_brush.usage_h", 500.0),
    ]
    for tenant, robot, bucket, metric, value in minutes:
        conn.execute(
            "INSERT INTO telemetry_1m (tenant_id, robot_id, bucket, metric, n, mean, min, max, last) "
            "VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s)",
            (tenant, robot, bucket, metric, value, value, value, value),
        )
    records = [
        ("acme", "r1", "main_brush", "replacement", at(1, 0) - timedelta(days=31), 100.0),
        ("acme", "r1", "main_brush", "replacement", at(1, 0) - timedelta(days=11), 110.0),
        ("acme", "r2", "main_brush", "repair", at(1, 0) - timedelta(days=26), 120.0),
        ("acme", "r2", "pump", "replacement", at(1, 0), 40.0),  # too few records to know a pump's life
        ("acme", "r2", "battery", "replacement", at(19, 9), None),
        ("globex", "g1", "main_brush", "replacement", at(1, 0), 1.0),
    ]
    for tenant, robot, component, kind, performed, usage in records:
        conn.execute(
            "INSERT INTO maintenance_records (tenant_id, robot_id, component, kind, performed_at, usage_h) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (tenant, robot, component, kind, performed, usage),
        )


@pytest.fixture
def week_db(db: Database) -> Database:
    """Two tenants and a week of known tasks, events, alerts, rollups and maintenance."""
    with db.connect() as conn:
        _fleet(conn)
        _tasks(conn)
        _events(conn)
        _alerts(conn)
        _rollups_and_maintenance(conn)
    return db


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore.from_settings(load_settings(data_dir=tmp_path / "data"))


def test_the_figures_count_what_happened_in_the_week_and_nothing_of_another_tenant(week_db: Database) -> None:
    with week_db.connect() as conn:
        figures = weekly_figures(conn, "acme", WEEK, now=AFTER)
    assert (figures.tenant_name, figures.robots, figures.sites, figures.complete) == ("Acme Cleaning", 2, 1, True)
    # r1: t1 2 h, t2 the 1 h after midnight Monday; r2: t3 half an hour, t4 the hour before the week ends.
    assert [(r.robot_id, r.cleaning_h, r.tasks_completed, r.tasks_failed) for r in figures.per_robot] == [
        ("r1", 3.0, 2, 0),
        ("r2", 1.5, 0, 1),
    ]
    assert figures.cleaning_h == 4.5 and figures.utilisation == round(4.5 / 336, 4)
    assert figures.cleaned_m2 == 1700.0 and figures.cleaned_m2_by_site == {"acme-hq": 1700.0}
    assert list(figures.cleaned_m2_by_day.values()) == [500.0, 1000.0, 200.0, 0.0, 0.0, 0.0, 0.0]
    assert figures.task_failure_reasons == {"component_failure": 1}
    # E_CLIFF from Saturday 20:00 to the week's end; the jam and the suction fault are one episode; the
    # wheel fault counts from Monday 00:00.
    assert [(c.cause, c.episodes, c.hours) for c in figures.downtime] == [
        ("E_CLIFF", 1, 28.0),
        ("main_brush", 1, 3.0),
        ("wheels", 1, 2.0),
    ]
    assert figures.downtime_h == 33.0
    assert [(r.robot_id, r.downtime_h) for r in figures.per_robot] == [("r1", 30.0), ("r2", 3.0)]
    assert [
        (a.rule, a.severity, a.raised, a.acknowledged, a.resolved, a.open_at_end, a.median_minutes_to_acknowledge)
        for a in figures.alerts
    ] == [
        ("battery_low", "warning", 2, 2, 1, 1, 60.0),
        ("maintenance_due", "warning", 1, 0, 0, 1, None),
        ("offline", "critical", 1, 0, 1, 0, None),
    ]
    assert figures.alerts_by_day["2026-11-19"] == {"offline": 1} and figures.alerts_by_day["2026-11-16"] == {}
    assert [(b.robot_id, b.cycles, b.cycles_added, b.low_battery_warnings, b.replaced) for b in figures.battery] == [
        ("r1", 107.5, 7.5, 2, False),
        ("r2", 50.0, None, 0, True),  # a new pack: the week's difference means nothing
    ]
    assert [(d.robot_id, d.component, d.why, d.risk, d.usage_h, d.typical_life_h) for d in figures.components_due] == [
        ("r1", "main_brush", "predicted failure", 0.91, None, None),
        ("r2", "main_brush", "95% of the typical life", None, 105.0, 110.0),
    ]


def test_a_running_week_counts_up_to_now(week_db: Database) -> None:
    with week_db.connect() as conn:
        figures = weekly_figures(conn, "acme", WEEK, now=at(18, 11))
    assert not figures.complete and figures.end == at(18, 11)
    assert figures.cleaned_m2 == 1700.0  # t3 failed at 09:30
    assert [(c.cause, c.hours) for c in figures.downtime] == [("wheels", 2.0), ("main_brush", 1.5)]
    assert figures.utilisation == round(3.5 / (2 * 59), 4)  # t4 has not begun; 59 hours of the week so far


def test_the_report_is_a_self_contained_page_and_a_pdf_made_once_per_finished_week(
    week_db: Database, store: ObjectStore
) -> None:
    made = generate_weekly_report(week_db, store, "acme", WEEK, now=AFTER)
    html = store.get(made.html_key).decode()
    for heading in ("Summary", "Utilisation and cleaned area", "Downtime by cause", "Alerts", "Battery health"):
        assert f">{heading}</h2>" in html
    assert "Components due" in html and "95% of the typical life" in html
    assert html.count('src="data:image/png;base64,') == 5
    assert not re.search(r"(src|href)=\"https?:", html)  # nothing loads from elsewhere
    assert all('alt="' in tag for tag in re.findall(r"<img [^>]*>", html))
    text = re.sub(r"data:image/png;base64,[^\"]+", "", html)
    assert "<td>r1</td>" in text and "g1" not in text and "Globex" not in text
    pdf = store.get(made.pdf_key)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type /Page\b", pdf)) >= 2
    again = weekly_report(week_db, store, "acme", WEEK, now=AFTER + timedelta(days=1))
    assert again.figures.generated_at == made.figures.generated_at  # a finished week is served as stored
    running = weekly_report(week_db, store, "acme", ReportWeek.containing(AFTER), now=AFTER)
    assert not running.figures.complete
    later = weekly_report(week_db, store, "acme", ReportWeek.containing(AFTER), now=AFTER + timedelta(hours=1))
    assert later.figures.generated_at > running.figures.generated_at  # a running week is made anew


def test_the_weekly_job_makes_last_weeks_missing_reports_once(week_db: Database, store: ObjectStore) -> None:
    monday = datetime(2026, 11, 23, 3, tzinfo=UTC)
    assert generate_missing_reports(week_db, store, now=monday) == ["acme", "globex"]
    assert generate_missing_reports(week_db, store, now=monday + timedelta(hours=1)) == []
    with week_db.connect() as conn:
        rows = conn.execute("SELECT tenant_id, period, generated_by FROM reports ORDER BY tenant_id").fetchall()
    assert rows == [("acme", "2026-W47", "weekly job"), ("globex", "2026-W47", "weekly job")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-W60", "2026 has weeks 01 to 53, not 60"),
        ("2026-48", "expected an ISO week such as 2026-W48"),
        ("2027-W01", "2027-W01 has not begun yet"),
        ("0000-W10", "year 0000 does not exist"),
    ],
)
def test_a_week_that_does_not_exist_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        ReportWeek.parse(text, now=AFTER)


def _flat(output: str) -> str:
    """The CLI's output on one line, without the frame rich draws around an error."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", output)


@pytest.fixture
def cli_env(week_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("FLEETRAY_DATABASE_URL", week_db.url)
    monkeypatch.setenv("FLEETRAY_DATABASE_SCHEMA", week_db.schema)
    monkeypatch.setenv("FLEETRAY_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield week_db
    get_settings.cache_clear()


def test_the_cli_writes_both_files_and_refuses_bad_input_without_storing_anything(
    cli_env: Database, tmp_path: Path
) -> None:
    runner = CliRunner()
    for args, message in (
        (["--week", "2026-W60"], "2026 has weeks 01 to 53"),
        (["--tenant", "nobody", "--week", "2026-W47"], "no tenant 'nobody'"),
    ):
        refused = runner.invoke(app, ["report", *args, "--out", str(tmp_path / "out")])
        assert refused.exit_code == 2 and message in _flat(refused.output), refused.output
    with cli_env.connect() as conn:
        assert conn.execute("SELECT count(*) FROM reports").fetchone()[0] == 0
    done = runner.invoke(app, ["report", "--tenant", "acme", "--week", "2026-W47", "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "out/acme-2026-W47.pdf").read_bytes().startswith(b"%PDF-")
    assert "Acme Cleaning" in (tmp_path / "out/acme-2026-W47.html").read_text()
    assert "1,700 m² cleaned" in _flat(done.output) and "33.0 h down" in _flat(done.output)


def test_the_api_serves_a_tenant_its_own_report_as_json_html_and_pdf(week_db: Database, tmp_path: Path) -> None:
    from serve_apps.api.app import create_app
    from serve_apps.api.context import ApiContext

    settings = load_settings(
        database_url=week_db.url,
        database_schema=week_db.schema,
        data_dir=tmp_path / "data",
        api_rate_limit="1000/second",
    )
    with week_db.connect() as conn:
        tokens = {tenant: create_key(conn, tenant, "viewer").token for tenant in ("acme", "globex")}
    context = ApiContext(settings, week_db)
    try:
        with TestClient(create_app(context), raise_server_exceptions=False) as client:

            def get(tenant: str, path: str, **params: str) -> object:
                return client.get(path, params=params, headers={"Authorization": f"Bearer {tokens[tenant]}"})

            acme = get("acme", "/v1/reports/weekly/2026-W47")
            assert acme.status_code == 200, acme.text
            assert acme.json()["cleaned_m2"] == 1700.0 and acme.json()["tenant_id"] == "acme"
            globex = get("globex", "/v1/reports/weekly/2026-W47").json()
            assert globex["cleaned_m2"] == 99999.0 and [r["robot_id"] for r in globex["per_robot"]] == ["g1"]
            page = get("acme", "/v1/reports/weekly/2026-W47", format="html")
            assert page.headers["content-type"].startswith("text/html") and "Acme Cleaning" in page.text
            pdf = get("acme", "/v1/reports/weekly/2026-W47", format="pdf")
            assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
            assert [r["week"] for r in get("acme", "/v1/reports/weekly").json()["items"]] == ["2026-W47"]
            bad = get("acme", "/v1/reports/weekly/2026-W60")
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.week"
            assert "2026 has weeks 01 to 53" in bad.json()["detail"]
            assert get("acme", "/v1/reports/weekly/W47").status_code == 422
            assert client.get("/v1/reports/weekly/2026-W47").status_code == 401
    finally:
        context.close()
