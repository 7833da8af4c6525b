// Drawing: a time series on a canvas, robots on a site map, a plan as a Gantt chart (SVG).

const COLOURS = {
  cleaning: "#2a9d8f", charging: "#e9c46a", docked: "#8d99ae", idle: "#a8dadc",
  moving: "#457b9d", error: "#d62828", offline: "#6c757d",
};

function sized(canvas, height) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { context, width, height };
}

/** ``series``: [{t: Date, v: number, low?: number, high?: number}], drawn oldest to newest, with min-max band. */
export function lineChart(canvas, series, unit = "") {
  const { context, width, height } = sized(canvas, 260);
  const pad = { left: 56, right: 12, top: 12, bottom: 28 };
  context.clearRect(0, 0, width, height);
  context.font = "11px system-ui, sans-serif";
  context.fillStyle = "#5a6b72";
  if (!series.length) {
    context.fillText("No data in this range.", pad.left, height / 2);
    return;
  }
  const times = series.map((p) => p.t.getTime());
  const lows = series.map((p) => (p.low ?? p.v));
  const highs = series.map((p) => (p.high ?? p.v));
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1);
  let v0 = Math.min(...lows), v1 = Math.max(...highs);
  if (v0 === v1) {  // a flat line sits in the middle, on a scale of its own size
    const margin = Math.abs(v0) * 0.1 || 1;
    v0 -= margin; v1 += margin;
  }
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - v0) / (v1 - v0)) * (height - pad.top - pad.bottom);
  context.strokeStyle = "#dde6ea";
  for (let k = 0; k <= 4; k += 1) {
    const value = v0 + ((v1 - v0) * k) / 4;
    context.beginPath(); context.moveTo(pad.left, y(value)); context.lineTo(width - pad.right, y(value)); context.stroke();
    context.fillText(`${Number(value.toPrecision(4))}${unit}`, 4, y(value) + 4);
  }
  const span = t1 - t0;
  const format = span < 600_000
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : span > 86_400_000 ? { month: "short", day: "numeric", hour: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
  for (let k = 0; k <= 4; k += 1) {
    const t = t0 + (span * k) / 4;
    const label = new Date(t).toLocaleString([], format);
    const labelWidth = context.measureText(label).width;
    context.fillText(label, Math.max(pad.left - labelWidth / 2, Math.min(x(t) - labelWidth / 2, width - labelWidth - 2)), height - 8);
  }
  if (series.some((p) => p.low !== undefined)) {
    context.fillStyle = "rgba(31,111,139,0.15)";
    context.beginPath();
    series.forEach((p, k) => (k ? context.lineTo : context.moveTo).call(context, x(times[k]), y(p.high)));
    [...series].reverse().forEach((p, k) => context.lineTo(x(times[series.length - 1 - k]), y(p.low)));
    context.fill();
  }
  context.strokeStyle = "#1f6f8b";
  context.lineWidth = 1.5;
  context.beginPath();
  series.forEach((p, k) => (k ? context.lineTo : context.moveTo).call(context, x(times[k]), y(p.v)));
  context.stroke();
}

/** Robots at their last pose; the extent is the robots' own (a site's map frame). */
export function siteMap(canvas, robots) {
  const { context, width, height } = sized(canvas, 320);
  context.clearRect(0, 0, width, height);
  const placed = robots.filter((r) => r.pose && Number.isFinite(r.pose.x) && Number.isFinite(r.pose.y));
  context.font = "11px system-ui, sans-serif";
  context.fillStyle = "#5a6b72";
  if (!placed.length) {
    context.fillText("No robot of this view reports a position.", 12, height / 2);
    return;
  }
  const xs = placed.map((r) => r.pose.x), ys = placed.map((r) => r.pose.y);
  const x0 = Math.min(...xs) - 1, x1 = Math.max(...xs) + 1, y0 = Math.min(...ys) - 1, y1 = Math.max(...ys) + 1;
  const scale = Math.min((width - 20) / (x1 - x0), (height - 20) / (y1 - y0));
  // One path per status: thousands of robots are a few fills, not thousands.
  const size = placed.length > 2000 ? 3 : 7;
  const byStatus = new Map();
  for (const robot of placed) {
    const colour = COLOURS[robot.status] || COLOURS.offline;
    if (!byStatus.has(colour)) byStatus.set(colour, new Path2D());
    const px = 10 + (robot.pose.x - x0) * scale;
    const py = height - 10 - (robot.pose.y - y0) * scale;
    byStatus.get(colour).rect(px - size / 2, py - size / 2, size, size);
  }
  for (const [colour, path] of byStatus) {
    context.fillStyle = colour;
    context.fill(path);
  }
  context.fillStyle = "#5a6b72";
  context.fillText(`${placed.length} robot${placed.length === 1 ? "" : "s"} placed`, 12, 14);
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

/** One lane per robot: travel, tasks and charging along the plan's seconds. */
export function gantt(container, result) {
  container.replaceChildren();
  const routes = result.itineraries || [];
  const end = Math.max(1, ...routes.flatMap((route) => route.stops.map((stop) => stop.end_s)));
  const lane = 28, left = 90, width = Math.max(700, container.clientWidth || 700), top = 20;
  const height = top + lane * routes.length + 10;
  const x = (s) => left + (s / end) * (width - left - 10);
  const chart = svg("svg", { width, height, role: "img", "aria-label": `Plan of ${routes.length} robots over ${Math.round(end / 60)} minutes` });
  for (let k = 0; k <= 6; k += 1) {
    const s = (end * k) / 6;
    chart.append(svg("text", { x: Math.min(x(s), width - 48), y: 12 }, `${Math.round(s / 60)} min`));
  }
  routes.forEach((route, index) => {
    const y = top + index * lane;
    chart.append(svg("text", { x: 4, y: y + 17 }, route.robot_id));
    let previous = 0;
    for (const stop of route.stops) {
      if (stop.arrival_s > previous) {
        chart.append(svg("rect", { class: "travel", x: x(previous), y: y + 6, width: Math.max(1, x(stop.arrival_s) - x(previous)), height: 16 }));
      }
      const kind = stop.kind === "task" || stop.kind === "charge" ? stop.kind : null;
      if (kind && stop.end_s > stop.start_s) {
        const block = svg("rect", { class: kind, x: x(stop.start_s), y: y + 4, width: Math.max(2, x(stop.end_s) - x(stop.start_s)), height: 20 });
        block.append(svg("title", {}, `${stop.kind} ${stop.task_id || stop.location}: ${Math.round(stop.start_s / 60)}–${Math.round(stop.end_s / 60)} min`));
        chart.append(block);
      }
      previous = Math.max(previous, stop.end_s);
    }
  });
  container.append(chart);
}
