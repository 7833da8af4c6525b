// Schedules: write or upload a request, plan it on the optimiser, see it as a Gantt chart per robot.

import { api, can } from "./api.js";
import { gantt } from "./charts.js";
import { h, labelled, table, toast } from "./ui.js";

/** A small request over the tenant's own robots, to start from: a dock with a charger and a grid of areas. */
function example(robotIds) {
  const robots = (robotIds.length ? robotIds : ["robot-1", "robot-2"]).slice(0, 4);
  const locations = [{ id: "dock", x: 0, y: 0, charger: true }];
  const tasks = [];
  for (let k = 0; k < 12; k += 1) {
    const id = `area-${k + 1}`;
    locations.push({ id, x: 40 * (k % 4) + 20, y: 30 * Math.floor(k / 4) + 15 });
    tasks.push({ id: `clean-${id}`, location: id, duration_s: 900 + 300 * (k % 3), priority: 1 + (k % 3) });
  }
  return {
    horizon_s: 14400,
    locations,
    robots: robots.map((id) => ({
      id,
      start_location: "dock",
      battery_soc: 0.6,
      consumption_per_min_work: 0.01,
      consumption_per_m: 0.0005,
      charge_rate_per_min: 0.02,
    })),
    tasks,
    options: { time_limit_s: 5 },
  };
}

export function schedulesView(root) {
  const request = h("textarea", { id: "schedule-request", spellcheck: "false" });
  const file = h("input", { id: "schedule-file", type: "file", accept: "application/json,.json" });
  const run = h("button", { type: "submit", id: "schedule-run" }, "Plan");
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {},
    labelled("Request (JSON, as POST /v1/schedules:optimize takes it)", request),
    h("div", { class: "toolbar" }, labelled("Or upload a request file", file), run),
  );
  root.replaceChildren(h("h1", {}, "Schedules"), form, result);
  if (!can("planner")) {
    run.disabled = true;
    result.replaceChildren(h("p", { class: "hint" }, "Planning needs a planner, operator or admin key."));
  }

  file.addEventListener("change", async () => {
    if (file.files[0]) request.value = await file.files[0].text();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse(request.value);
    } catch (error) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, `The request is not JSON: ${error.message}`));
      return;
    }
    run.disabled = true;
    result.replaceChildren(h("p", { class: "hint" }, "planning…"));
    try {
      const plan = await api("/v1/schedules:optimize", { method: "POST", body });
      show(plan);
      toast(`planned ${plan.kpis.tasks_planned} tasks`);
    } catch (error) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
    } finally {
      run.disabled = false;
    }
  });

  function show(plan) {
    const chart = h("div", { class: "gantt", id: "gantt" });
    const kpis = plan.kpis;
    result.replaceChildren(
      h(
        "div",
        { class: "cards" },
        h("div", { class: "card" }, h("b", {}, kpis.tasks_planned), "tasks planned"),
        h("div", { class: "card" }, h("b", {}, kpis.tasks_dropped), "tasks dropped"),
        h("div", { class: "card" }, h("b", {}, kpis.robots_used), "robots used"),
        h("div", { class: "card" }, h("b", {}, `${Math.round(kpis.distance_m)} m`), "distance"),
        h("div", { class: "card" }, h("b", {}, `${Math.round(kpis.makespan_s / 60)} min`), "makespan"),
        h("div", { class: "card" }, h("b", {}, plan.status), `${plan.solver}, ${plan.solve_time_s.toFixed(1)} s`),
      ),
      h("h2", {}, "Plan per robot"),
      h("p", { class: "hint" }, "Green: cleaning; yellow: charging; grey: travelling."),
      chart,
      h("h2", {}, "Dropped tasks"),
      plan.dropped.length
        ? table(["Task", "Why"], plan.dropped.map((d) => [d.task_id, d.reason]))
        : h("p", { class: "hint" }, "None: every task is planned."),
    );
    gantt(chart, plan);
  }

  api("/v1/fleet/state?limit=4")
    .then((page) => { request.value = JSON.stringify(example(page.items.map((r) => r.robot_id)), null, 2); })
    .catch((error) => toast(error.message));
  return () => {};
}
