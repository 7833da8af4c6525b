// The fleet: every robot's status, battery, site, task and alerts, live; filters; a site map.
// Thousands of robots: the list draws only the rows in view, and live updates are folded into one
// redraw per animation frame.

import { feed, pages } from "./api.js";
import { siteMap } from "./charts.js";
import { batteryBar, h, labelled, options, statusBadge } from "./ui.js";

const ROW = 34;
const STATUSES = ["cleaning", "charging", "docked", "idle", "moving", "error", "offline"];

export function fleetView(root) {
  const robots = new Map();
  let shown = [];
  let shownIds = new Set();
  let dirty = false;
  let mapDirty = false;
  let frame = 0;
  let mapDrawnAt = 0;
  let visibleIds = new Set();
  let refilterDue = false;
  let liveDirty = false;  // visible rows changed by updates: redrawn a few times a second, not every frame
  let rowsDrawnAt = 0;
  let updates = 0;
  const filter = { site: "", manufacturer: "", status: "", text: "" };

  const siteSelect = h("select", { id: "filter-site" }, options([], ""));
  const makerSelect = h("select", { id: "filter-manufacturer" }, options([], ""));
  const statusSelect = h("select", { id: "filter-status" }, options(STATUSES, ""));
  const search = h("input", { id: "filter-text", type: "search", placeholder: "robot id" });
  const counts = h("div", { class: "counts", "aria-live": "polite" });
  const spacer = h("div", { class: "spacer" });
  const viewport = h("div", { class: "viewport", role: "table", "aria-label": "Robots", tabindex: "0" }, spacer);
  const map = h("canvas", { id: "site-map", role: "img", "aria-label": "Robots on the site map, coloured by status" });
  const live = h("p", { class: "hint", id: "live-count" }, "connecting…");

  root.replaceChildren(
    h("h1", {}, "Fleet"),
    h(
      "div",
      { class: "toolbar", role: "search" },
      labelled("Site", siteSelect),
      labelled("Manufacturer", makerSelect),
      labelled("Status", statusSelect),
      labelled("Robot", search),
    ),
    counts,
    h(
      "div",
      { class: "fleet" },
      h(
        "div",
        {},
        h(
          "div",
          { class: "grid-head", role: "row" },
          ["Robot", "Status", "Battery", "Site", "Task", "Alerts"].map((name, k) =>
            h("span", { role: "columnheader", class: k > 3 ? "wide-only" : null }, name),
          ),
        ),
        viewport,
      ),
      h("div", {}, h("h2", {}, "Site map"), map, live),
    ),
  );

  const matches = (robot) =>
    (!filter.site || robot.site_id === filter.site) &&
    (!filter.manufacturer || robot.manufacturer === filter.manufacturer) &&
    (!filter.status || (robot.status || "offline") === filter.status) &&
    (!filter.text || robot.robot_id.includes(filter.text));

  function refilter() {
    shown = [...robots.values()].filter(matches).sort((a, b) => (a.robot_id < b.robot_id ? -1 : 1));
    shownIds = new Set(shown.map((robot) => robot.robot_id));
    spacer.style.height = `${shown.length * ROW}px`;
    viewport.setAttribute("aria-rowcount", String(shown.length));
    count();
    dirty = mapDirty = true;
    schedule();
  }

  function count() {
    const byStatus = {};
    for (const robot of shown) byStatus[robot.status || "offline"] = (byStatus[robot.status || "offline"] || 0) + 1;
    counts.replaceChildren(
      h("span", { class: "count" }, `${shown.length} of ${robots.size} robots`),
      ...Object.entries(byStatus).map(([status, n]) => h("span", { class: "count" }, `${status}: ${n}`)),
    );
  }

  function row(robot, index) {
    return h(
      "div",
      { class: "grid-row", role: "row", style: { top: `${index * ROW}px` }, "aria-rowindex": String(index + 1), dataset: { robot: robot.robot_id } },
      h("span", { role: "cell" }, h("a", { href: `#/robot/${encodeURIComponent(robot.robot_id)}` }, robot.robot_id)),
      h("span", { role: "cell", class: "status-cell" }, statusBadge(robot.status)),
      h("span", { role: "cell" }, batteryBar(robot.battery_soc)),
      h("span", { role: "cell" }, robot.site_id || "—"),
      h("span", { role: "cell", class: "wide-only" }, robot.task_id || "—"),
      h("span", { role: "cell", class: "alerts-cell wide-only" }, (robot.alerts || []).join(", ")),
    );
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function draw() {
    frame = 0;
    if (refilterDue) {
      refilterDue = false;
      refilter();
    }
    if (liveDirty && performance.now() - rowsDrawnAt > 250) {
      liveDirty = false;
      dirty = true;
    }
    if (dirty) {
      dirty = false;
      rowsDrawnAt = performance.now();
      const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 5);
      const last = Math.min(shown.length, first + Math.ceil(viewport.clientHeight / ROW) + 10);
      const visible = shown.slice(first, last);
      visibleIds = new Set(visible.map((robot) => robot.robot_id));
      spacer.replaceChildren(...visible.map((robot, k) => row(robot, first + k)));
    }
    if (mapDirty && performance.now() - mapDrawnAt > 1000) {  // a map of thousands: once a second is enough
      mapDirty = false;
      mapDrawnAt = performance.now();
      siteMap(map, shown);
      count();
    }
    if (liveDirty || mapDirty) setTimeout(schedule, 250);  // what waits for its turn: a frame a little later
  }

  function merge(state) {
    // In place: the rows in ``shown`` are these same objects, so an update needs no search.
    let robot = robots.get(state.robot_id);
    if (!robot) {
      robot = {};
      robots.set(state.robot_id, robot);
    }
    Object.assign(robot, state);
    if (state.latest) {
      robot.battery_soc = state.latest.battery?.soc ?? robot.battery_soc;
      robot.pose = state.latest.pose ?? robot.pose;
      robot.task_id = state.task?.task_id ?? state.latest.task_id ?? robot.task_id;
    }
    return robot;
  }

  viewport.addEventListener("scroll", () => { dirty = true; schedule(); });
  siteSelect.addEventListener("change", () => { filter.site = siteSelect.value; refilter(); });
  makerSelect.addEventListener("change", () => { filter.manufacturer = makerSelect.value; refilter(); });
  statusSelect.addEventListener("change", () => { filter.status = statusSelect.value; refilter(); });
  search.addEventListener("input", () => { filter.text = search.value.trim(); refilter(); });

  const socket = feed((item) => {
    if (item.type !== "state" && item.type !== "alert") return;
    if (!robots.has(item.robot_id)) return;  // not loaded yet: its page will carry it
    const robot = robots.get(item.robot_id);
    if (item.type === "state") {  // thousands a second: plain writes, no objects made
      robot.status = item.status;
      robot.battery_soc = item.battery_soc;
      robot.pose = item.pose;
      robot.task_id = item.task_id;
      robot.alerts = item.alerts;
      updates += 1;
    } else {
      const others = (robot.alerts || []).filter((rule) => rule !== item.rule);
      robot.alerts = item.state === "active" ? [...others, item.rule].sort() : others;
    }
    if (matches(robot) !== shownIds.has(robot.robot_id)) refilterDue = true;  // folded into the next frame
    else {
      liveDirty ||= visibleIds.has(robot.robot_id);
      mapDirty = true;
    }
    schedule();
  });
  const ticker = setInterval(() => {
    live.textContent = `live: ${updates} updates in the last 5 s`;
    updates = 0;
  }, 5000);

  (async () => {
    const sites = await pages("/v1/sites");
    siteSelect.replaceChildren(...options(sites.map((s) => s.site_id), ""));
    await pages("/v1/fleet/state", {}, (items) => {
      items.forEach(merge);
      const makers = [...new Set([...robots.values()].map((r) => r.manufacturer))].sort();
      makerSelect.replaceChildren(...options(makers, filter.manufacturer));
      refilter();
    });
    live.textContent = "live";
  })().catch((error) => counts.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));

  schedule();
  return () => {
    cancelAnimationFrame(frame);
    clearInterval(ticker);
    socket.close();
  };
}
