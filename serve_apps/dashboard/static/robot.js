// One robot: live state, telemetry over a chosen range and resolution, components with wear and predicted
// risk, events, recorded bags.

import { ApiError, api, feed } from "./api.js";
import { lineChart } from "./charts.js";
import { ago, batteryBar, h, labelled, latestOnly, number, statusBadge, table, when } from "./ui.js";

const RANGES = { "1 hour": 3600, "6 hours": 21600, "24 hours": 86400, "7 days": 604800 };
const METRICS = [
  "battery.soc",
  "battery.voltage",
  "battery.temp",
  "components.main_brush.current_a",
  "components.side_brush.current_a",
  "components.vacuum.current_a",
  "components.wheels.current_a",
  "metrics.filter_dp_pa",
  "system.cpu",
];

/** A metric's value in a stored raw sample: battery fields are columns (``battery_soc``), the rest JSON paths. */
function valueAt(sample, metric) {
  const path = metric.startsWith("battery.") ? [metric.replace(".", "_")] : metric.split(".");
  return path.reduce((node, key) => (node == null ? undefined : node[key]), sample);
}

async function series(robotId, metric, seconds, resolution) {
  const end = new Date();
  const start = new Date(end.getTime() - seconds * 1000);
  const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), resolution, limit: "1000" });
  if (resolution !== "raw") query.append("metric", metric);
  const page = await api(`/v1/robots/${encodeURIComponent(robotId)}/telemetry?${query}`);
  if (resolution === "raw") {
    return page.items
      .map((sample) => ({ t: new Date(sample.ts), v: valueAt(sample, metric) }))
      .filter((point) => typeof point.v === "number");
  }
  return page.items.map((row) => ({ t: new Date(row.bucket), v: row.mean, low: row.min, high: row.max }));
}

function components(state, predictions) {
  const latest = state.latest?.components || {};
  const predicted = predictions?.components || {};
  const names = [...new Set([...Object.keys(latest), ...Object.keys(predicted)])].sort();
  if (!names.length) return h("p", { class: "hint" }, "This robot reports no components.");
  return table(
    ["Component", "Current (A)", "Temperature (°C)", "Hours used", "Failure risk", "RUL (h)", "Top reasons"],
    names.map((name) => {
      const reading = latest[name] || {};
      const prediction = predicted[name] || {};
      const risk = prediction.failure_probability;
      return [
        name,
        number(reading.current_a, 2),
        number(reading.temp_c, 1),
        number(reading.usage_h, 0),
        risk === undefined ? "—" : h("span", { class: risk >= 0.5 ? "risk-high" : null }, `${Math.round(risk * 100)}%`),
        prediction.rul_h === undefined ? "—" : number(prediction.rul_h, 0),
        (prediction.reasons || []).slice(0, 3).map((r) => r.feature || r).join(", ") || "—",
      ];
    }),
  );
}

function bagLink(bag) {
  // The URL is signed and short-lived: it carries its own authority, so no key travels with it.
  if (!bag.download_url) return h("span", { class: "hint" }, "a directory: in the store");
  return h("a", { href: bag.download_url, download: bag.uri.split("/").pop() }, "Download");
}

export function robotView(root, robotId) {
  const header = h("div", { class: "cards", "aria-live": "polite" });
  const metric = h("select", { id: "metric" }, METRICS.map((m) => h("option", { value: m }, m)));
  const range = h("select", { id: "range" }, Object.keys(RANGES).map((r) => h("option", { value: r }, r)));
  const resolution = h("select", { id: "resolution" }, ["raw", "1m", "1h"].map((r) => h("option", { value: r, selected: r === "1m" }, r)));
  const chart = h("canvas", { id: "telemetry-chart", role: "img", "aria-label": "Telemetry chart" });
  const chartNote = h("p", { class: "hint", "aria-live": "polite" });
  const parts = h("div", {}, h("p", { class: "hint" }, "loading…"));
  const events = h("div", {});
  const bags = h("div", {});
  let state = null;
  let predictions = null;

  root.replaceChildren(
    h("p", {}, h("a", { href: "#/fleet" }, "← Fleet")),
    h("h1", {}, `Robot ${robotId}`),
    header,
    h("h2", {}, "Telemetry"),
    h("div", { class: "toolbar" }, labelled("Signal", metric), labelled("Range", range), labelled("Resolution", resolution)),
    chart,
    chartNote,
    h("h2", {}, "Components"),
    parts,
    h("div", { class: "split" }, h("div", {}, h("h2", {}, "Events"), events), h("div", {}, h("h2", {}, "Recorded bags"), bags)),
  );

  function drawHeader() {
    const latest = state.latest || {};
    header.replaceChildren(
      h("div", { class: "card" }, h("b", { id: "robot-status" }, statusBadge(state.status)), "status"),
      h("div", { class: "card" }, h("b", {}, batteryBar(latest.battery?.soc ?? state.battery_soc)), "battery"),
      h("div", { class: "card" }, h("b", {}, state.site_id || "—"), "site"),
      h("div", { class: "card" }, h("b", {}, `${state.manufacturer} ${state.model}`), "model"),
      h("div", { class: "card" }, h("b", {}, state.task?.task_id || latest.task_id || "—"), "task"),
      h("div", { class: "card" }, h("b", {}, ago(state.last_seen)), "last seen"),
      h("div", { class: "card" }, h("b", {}, (state.alerts || []).join(", ") || "none"), "active alerts"),
    );
  }

  const drawChart = latestOnly(async (current) => {
    chartNote.textContent = "loading…";
    try {
      const points = await series(robotId, metric.value, RANGES[range.value], resolution.value);
      if (!current()) return;
      lineChart(chart, points);
      chart.setAttribute("aria-label", `${metric.value} over the last ${range.value}: ${points.length} points`);
      chartNote.textContent = `${points.length} points${points.length === 1000 ? " (the first 1,000; pick a coarser resolution)" : ""}`;
    } catch (error) {
      if (current()) chartNote.textContent = error.message;
    }
  });
  [metric, range, resolution].forEach((control) => control.addEventListener("change", drawChart));

  const socket = feed(
    (item) => {
      if (item.type !== "state" || item.robot_id !== robotId || !state) return;
      Object.assign(state, { status: item.status, last_seen: item.at, alerts: item.alerts, battery_soc: item.battery_soc });
      if (state.latest?.battery) state.latest.battery.soc = item.battery_soc;
      drawHeader();
    },
    { robots: [robotId] },
  );

  (async () => {
    state = await api(`/v1/robots/${encodeURIComponent(robotId)}/state`);
    drawHeader();
    drawChart();
    try {
      predictions = await api(`/v1/robots/${encodeURIComponent(robotId)}/predictions`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      predictions = null;  // no model in production yet, or no live features: readings only
    }
    parts.replaceChildren(components(state, predictions));
    const recent = await api(`/v1/events?robot_id=${encodeURIComponent(robotId)}&limit=50`);
    events.replaceChildren(
      recent.items.length
        ? table(["When", "Level", "Code", "Message"], recent.items.map((e) => [when(e.ts), e.level, e.code, e.message]))
        : h("p", { class: "hint" }, "No events."),
    );
    const recorded = await api(`/v1/bags?robot_id=${encodeURIComponent(robotId)}&limit=50`);
    bags.replaceChildren(
      recorded.items.length
        ? table(
            ["Started", "Duration (s)", "Status", ""],
            recorded.items.map((bag) => [
              when(bag.start_time),
              number(bag.duration_s, 0),
              bag.status,
              bagLink(bag),
            ]),
          )
        : h("p", { class: "hint" }, "No bags recorded."),
    );
  })().catch((error) => header.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));

  return () => socket.close();
}
