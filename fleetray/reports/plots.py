"""The report's plots as PNG images (matplotlib, drawn off screen): the same images go into the HTML and the PDF."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fleetray.reports.figures import WeeklyFigures

WIDTH_IN, HEIGHT_IN, DPI = 7.0, 2.6, 110
ACCENT, MUTED = "#1f6f8b", "#9bb8c4"


def report_plots(figures: WeeklyFigures) -> dict[str, bytes]:
    """Plot name to PNG bytes; a plot with nothing to show is left out."""
    import matplotlib

    matplotlib.use("Agg")
    drawn = {
        "cleaned_area": _drawn(figures, _cleaned_area),
        "utilisation": _drawn(figures, _utilisation),
        "downtime": _drawn(figures, _downtime) if figures.downtime else None,
        "alerts": _drawn(figures, _alerts) if any(figures.alerts_by_day.values()) else None,
        "battery": _drawn(figures, _battery) if any(b.cycles is not None for b in figures.battery) else None,
    }
    return {name: png for name, png in drawn.items() if png is not None}


def _drawn(figures: WeeklyFigures, draw: Callable[[Any, WeeklyFigures], None]) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    draw(axes, figures)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _day_labels(days: list[str]) -> list[str]:
    from datetime import date

    return [date.fromisoformat(day).strftime("%a %d") for day in days]


def _cleaned_area(axes: Any, figures: WeeklyFigures) -> None:
    days = list(figures.cleaned_m2_by_day)
    axes.bar(_day_labels(days), [figures.cleaned_m2_by_day[d] for d in days], color=ACCENT)
    axes.set_ylabel("m² cleaned")
    axes.set_title("Cleaned area per day", loc="left")


def _utilisation(axes: Any, figures: WeeklyFigures) -> None:
    shares = [100 * robot.utilisation for robot in figures.per_robot]
    axes.hist(shares, bins=[5 * k for k in range(21)], color=ACCENT)
    axes.axvline(100 * figures.utilisation, color="black", linewidth=1, linestyle="--", label="fleet")
    axes.set_xlabel("share of the week on tasks (%)")
    axes.set_ylabel("robots")
    axes.legend(frameon=False)
    axes.set_title("Utilisation per robot", loc="left")


def _downtime(axes: Any, figures: WeeklyFigures) -> None:
    causes = figures.downtime[:10][::-1]
    axes.barh([c.cause for c in causes], [c.hours for c in causes], color=ACCENT)
    axes.set_xlabel("hours down")
    axes.set_title("Downtime by cause", loc="left")


def _alerts(axes: Any, figures: WeeklyFigures) -> None:
    days = list(figures.alerts_by_day)
    rules = sorted({rule for counts in figures.alerts_by_day.values() for rule in counts})
    bottom = [0] * len(days)
    palette = [ACCENT, MUTED, "#e07a5f", "#81b29a", "#f2cc8f", "#3d405b"]
    for k, rule in enumerate(rules):
        counts = [figures.alerts_by_day[d].get(rule, 0) for d in days]
        axes.bar(_day_labels(days), counts, bottom=bottom, label=rule, color=palette[k % len(palette)])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_ylabel("alerts raised")
    axes.legend(frameon=False, fontsize="small", ncols=min(3, len(rules)))
    axes.set_title("Alerts per day", loc="left")


def _battery(axes: Any, figures: WeeklyFigures) -> None:
    cycles = [b.cycles for b in figures.battery if b.cycles is not None]
    axes.hist(cycles, bins=20, color=ACCENT)
    axes.set_xlabel("charge cycles at the end of the week")
    axes.set_ylabel("robots")
    axes.set_title("Battery wear", loc="left")
