"""A weekly report as a self-contained HTML page (Jinja2, plots inline) and as a PDF (fpdf2).

Neither loads anything from elsewhere when opened: the plots are embedded, the PDF embeds its font
(DejaVu Sans, which matplotlib ships), so any tenant's or site's name prints.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING

from fleetray.reports.figures import RobotWeek, WeeklyFigures

if TYPE_CHECKING:
    from fpdf import FPDF

ROBOTS_LISTED = 200
DUE_LISTED_IN_PDF = 60
PLOT_TITLES = {
    "cleaned_area": "Cleaned area per day",
    "utilisation": "Utilisation per robot",
    "downtime": "Downtime by cause",
    "alerts": "Alerts per day",
    "battery": "Battery wear",
}


def summary_tiles(figures: WeeklyFigures) -> list[tuple[str, str]]:
    """The headline figures, as (label, value) pairs."""
    open_alerts = sum(a.open_at_end for a in figures.alerts)
    return [
        ("utilisation", f"{figures.utilisation:.0%}"),
        ("m² cleaned", f"{figures.cleaned_m2:,.0f}"),
        ("tasks completed", f"{figures.tasks_completed:,}"),
        ("tasks failed", f"{figures.tasks_failed:,}"),
        ("hours of downtime", f"{figures.downtime_h:,.1f}"),
        ("alerts raised", f"{sum(a.raised for a in figures.alerts):,}"),
        ("alerts still open", f"{open_alerts:,}"),
        ("components due", f"{len(figures.components_due):,}"),
    ]


def battery_note(figures: WeeklyFigures) -> str:
    known = [b for b in figures.battery if b.cycles is not None]
    replaced = sum(b.replaced for b in figures.battery)
    warnings = sum(b.low_battery_warnings for b in figures.battery)
    if not known:
        return f"No robot reported charge cycles this week; {warnings} low-battery warnings, {replaced} packs replaced."
    worst = max(known, key=lambda b: b.cycles or 0.0)
    added = [b.cycles_added for b in known if b.cycles_added is not None]
    mean_added = f"{sum(added) / len(added):.1f}" if added else "unknown"
    return (
        f"{len(known)} robots reported their cycles: {mean_added} cycles added per robot this week on average; "
        f"the most worn pack is {worst.robot_id}'s at {worst.cycles:,.0f} cycles. "
        f"{warnings} low-battery warnings; {replaced} packs replaced."
    )


def robots_listed(figures: WeeklyFigures) -> list[RobotWeek]:
    """The robots worth a line: most downtime first, then least used (a large fleet's rest stays in the JSON)."""
    ranked = sorted(figures.per_robot, key=lambda r: (-r.downtime_h, r.utilisation, r.robot_id))
    return ranked[:ROBOTS_LISTED]


def render_html(figures: WeeklyFigures, plots: dict[str, bytes]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("fleetray.reports", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    robots = robots_listed(figures)
    return environment.get_template("weekly.html.j2").render(
        f=figures,
        summary=summary_tiles(figures),
        plots={name: base64.b64encode(png).decode() for name, png in plots.items()},
        battery_note=battery_note(figures),
        robots=robots,
        hidden_robots=len(figures.per_robot) - len(robots),
    )


def _font_files() -> tuple[Path, Path]:
    import matplotlib

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return fonts / "DejaVuSans.ttf", fonts / "DejaVuSans-Bold.ttf"


def render_pdf(figures: WeeklyFigures, plots: dict[str, bytes]) -> bytes:
    from fpdf import FPDF

    regular, bold = _font_files()
    pdf = FPDF(format="A4")
    pdf.set_title(f"{figures.tenant_name}: fleet report {figures.week}")
    pdf.set_creation_date(figures.generated_at)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    _line(pdf, 8, f"{figures.tenant_name}: fleet report, week {figures.week}")
    pdf.set_font("DejaVu", "", 9)
    so_far = " (the week so far)" if not figures.complete else ""
    _line(
        pdf,
        5,
        f"{figures.start:%a %d %b %Y %H:%M} to {figures.end:%a %d %b %Y %H:%M} UTC{so_far} · "
        f"{_count(figures.robots, 'robot')} at {_count(figures.sites, 'site')} · "
        f"generated {figures.generated_at:%Y-%m-%d %H:%M} UTC",
    )
    _heading(pdf, "Summary")
    _table(pdf, ["figure", "value"], [[label, value] for label, value in summary_tiles(figures)], widths=(2, 1))
    for name, title in PLOT_TITLES.items():
        if name in plots:
            if pdf.get_y() > 200:
                pdf.add_page()
            pdf.image(io.BytesIO(plots[name]), w=pdf.epw, alt_text=title)
    _heading(pdf, "Downtime by cause")
    _table(
        pdf,
        ["cause", "episodes", "robots", "hours"],
        [[c.cause, str(c.episodes), str(c.robots), f"{c.hours:.1f}"] for c in figures.downtime],
        empty="No robot was down this week.",
    )
    _heading(pdf, "Alerts")
    _table(
        pdf,
        ["rule", "severity", "raised", "acknowledged", "resolved", "open at end"],
        [
            [a.rule, a.severity, str(a.raised), str(a.acknowledged), str(a.resolved), str(a.open_at_end)]
            for a in figures.alerts
        ],
        empty="No alert was raised this week.",
    )
    _heading(pdf, "Battery health")
    pdf.set_font("DejaVu", "", 9)
    _line(pdf, 5, battery_note(figures))
    _heading(pdf, "Components due")
    _table(
        pdf,
        ["robot", "component", "why"],
        [[d.robot_id, d.component, d.why] for d in figures.components_due[:DUE_LISTED_IN_PDF]],
        empty="No component is due.",
        widths=(2, 1.5, 2),
    )
    if len(figures.components_due) > DUE_LISTED_IN_PDF:
        _line(pdf, 5, f"{len(figures.components_due) - DUE_LISTED_IN_PDF} more in the report's JSON form.")
    _heading(pdf, "Robots")
    _table(
        pdf,
        ["robot", "site", "utilisation", "m² cleaned", "tasks done", "failed", "hours down"],
        [
            [
                r.robot_id,
                r.site_id or "",
                f"{r.utilisation:.0%}",
                f"{r.cleaned_m2:,.0f}",
                str(r.tasks_completed),
                str(r.tasks_failed),
                f"{r.downtime_h:.1f}",
            ]
            for r in robots_listed(figures)
        ],
        widths=(2, 1.5, 1, 1, 1, 1, 1),
    )
    return bytes(pdf.output())


def _line(pdf: FPDF, height: float, text: str) -> None:
    """A paragraph across the page, the cursor back at the left margin below it."""
    from fpdf.enums import XPos, YPos

    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 12)
    _line(pdf, 7, text)


def _table(
    pdf: FPDF,
    header: list[str],
    rows: list[list[str]],
    *,
    empty: str = "",
    widths: tuple[float, ...] | None = None,
) -> None:
    pdf.set_font("DejaVu", "", 8)
    if not rows:
        _line(pdf, 5, empty)
        return
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5) as table:
        for row in [header, *rows]:
            line = table.row()
            for value in row:
                line.cell(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
