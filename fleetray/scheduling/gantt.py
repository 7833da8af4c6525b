"""A plan as a Gantt chart: one self-contained HTML file (inline SVG), one row per robot."""

from __future__ import annotations

from html import escape

from fleetray.scheduling.model import ScheduleResult

ROW_PX = 28
LABEL_PX = 120
WIDTH_PX = 1100
COLOURS = {"task": "#3b7dd8", "charge": "#2f9e44", "travel": "#c7ccd4"}


def gantt_html(plan: ScheduleResult, *, title: str = "fleetray schedule") -> str:
    """The chart: work in blue, charging in green, travel in grey; hover a bar for its details."""
    end = max((stop.end_s for itinerary in plan.itineraries for stop in itinerary.stops), default=0) or 1
    scale = (WIDTH_PX - LABEL_PX - 20) / end
    height = ROW_PX * (len(plan.itineraries) + 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height}" '
        'font-family="sans-serif" font-size="12">'
    ]
    hours = max(1, end // 3600)
    step = max(1, hours // 12) * 3600
    for tick in range(0, end + 1, step):
        x = LABEL_PX + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - ROW_PX}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{tick // 3600}h</text>'
        )
    for row, itinerary in enumerate(plan.itineraries):
        y = ROW_PX * (row + 0.5)
        parts.append(f'<text x="4" y="{y + 14:.1f}">{escape(itinerary.robot_id)}</text>')
        previous_end = itinerary.stops[0].end_s if itinerary.stops else 0
        for stop in itinerary.stops[1:]:
            bars = [("travel", previous_end, stop.arrival_s, f"to {stop.location}")]
            if stop.kind in ("task", "charge"):
                label = stop.task_id if stop.kind == "task" else f"charging at {stop.location}"
                bars.append((stop.kind, stop.start_s, stop.end_s, label))
            for kind, start, finish, label in bars:
                if finish <= start:
                    continue
                bar_height = ROW_PX - 8 if kind != "travel" else 6
                top = y + (ROW_PX - bar_height) / 2
                width = max(1.0, (finish - start) * scale)
                parts.append(
                    f'<rect x="{LABEL_PX + start * scale:.1f}" y="{top:.1f}" width="{width:.1f}" '
                    f'height="{bar_height}" fill="{COLOURS[kind]}"><title>{escape(str(label))}: '
                    f"{start // 60} to {finish // 60} min</title></rect>"
                )
            previous_end = stop.end_s
    parts.append("</svg>")
    dropped = "".join(f"<li>{escape(d.task_id)}: {escape(d.reason)}</li>" for d in plan.dropped)
    kpis = plan.kpis
    summary = (
        f"{kpis.tasks_planned} tasks planned on {kpis.robots_used} robots, {kpis.tasks_dropped} dropped; "
        f"{kpis.distance_m / 1000:.1f} km; objective {plan.objective:g} ({plan.solver}, "
        f"{plan.solve_time_s:.1f} s)"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head><body>"
        f"<h2>{escape(title)}</h2><p>{escape(summary)}</p>{''.join(parts)}"
        + (f"<h3>Dropped</h3><ul>{dropped}</ul>" if dropped else "")
        + "</body></html>"
    )
