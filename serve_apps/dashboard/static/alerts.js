// Alerts: the open ones first, acknowledged and resolved on request; new ones arrive live.

import { api, can, feed } from "./api.js";
import { h, labelled, latestOnly, table, toast, when } from "./ui.js";

/** The thresholds behind the alerts, for one robot model or all (``*``); admins change them. */
function rulesSection() {
  const box = h("div", {}, h("p", { class: "hint" }, "loading…"));
  const model = h("input", { id: "rules-model", value: "*", maxlength: "100" });

  const load = latestOnly(async (latest) => {
    const page = await api("/v1/alert-rules");
    if (!latest()) return;
    const current = page.items.find((item) => item.model === model.value);
    const values = current ? current.effective : page.defaults;
    const admin = can("admin");
    const inputs = {};
    const rows = Object.entries(page.defaults).map(([name, fallback]) => {
      const changed = current && name in current.overrides;
      const cell = admin
        ? (inputs[name] = h("input", { type: "number", step: "any", value: values[name], "aria-label": name }))
        : String(values[name]);
      return [name, cell, changed ? `default ${fallback}` : "default", page.descriptions[name] || ""];
    });
    const save = async (event) => {
      event.preventDefault();
      const overrides = {};
      for (const [name, input] of Object.entries(inputs)) {
        if (Number(input.value) !== page.defaults[name]) overrides[name] = Number(input.value);
      }
      try {
        await api("/v1/alert-rules", { method: "PUT", body: { model: model.value, overrides } });
        toast(`alert rules for ${model.value === "*" ? "all models" : model.value} saved`);
        await load();
      } catch (error) {
        toast(error.message);
      }
    };
    const reset = async () => {
      await api(`/v1/alert-rules?model=${encodeURIComponent(model.value)}`, { method: "DELETE" });
      toast("back to the defaults");
      await load();
    };
    box.replaceChildren(
      h(
        "form",
        { onsubmit: save },
        table(["Threshold", "Value", "", "What it means"], rows),
        admin
          ? h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Save rules"), h("button", { type: "button", class: "secondary", onclick: () => reset().catch((e) => toast(e.message)) }, "Reset to defaults"))
          : h("p", { class: "hint" }, "An admin key can change these."),
      ),
    );
  });

  model.addEventListener("change", () => load().catch((e) => toast(e.message)));
  load().catch((error) => box.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return h("section", { "aria-labelledby": "rules-title" }, h("h2", { id: "rules-title" }, "Rules"), h("div", { class: "toolbar" }, labelled("Robot model (* for all)", model)), box);
}

export function alertsView(root) {
  const state = h("select", { id: "alert-state" }, ["active", "acknowledged", "resolved", ""].map((s) => h("option", { value: s }, s || "all")));
  const list = h("div", { "aria-live": "polite" }, h("p", { class: "hint" }, "loading…"));
  root.replaceChildren(h("h1", {}, "Alerts"), h("div", { class: "toolbar" }, labelled("State", state)), list, rulesSection());

  async function act(alert, action) {
    try {
      await api(`/v1/alerts/${alert.alert_id}/${action}`, { method: "POST" });
      toast(`alert ${alert.alert_id} ${action === "acknowledge" ? "acknowledged" : "resolved"}`);
      await load();
    } catch (error) {
      toast(error.message);
    }
  }

  const load = latestOnly(async (current) => {
    const query = new URLSearchParams({ limit: "200", ...(state.value ? { state: state.value } : {}) });
    const page = await api(`/v1/alerts?${query}`);
    if (!current()) return;
    if (!page.items.length) {
      list.replaceChildren(h("p", { class: "hint" }, "No alerts in this state."));
      return;
    }
    const operator = can("operator");
    list.replaceChildren(
      table(
        ["Raised", "Robot", "Rule", "Severity", "Message", "State", ""],
        page.items.map((alert) => [
          when(alert.raised_at),
          h("a", { href: `#/robot/${encodeURIComponent(alert.robot_id)}` }, alert.robot_id),
          alert.rule,
          alert.severity,
          alert.message,
          alert.state,
          operator
            ? h(
                "span",
                { class: "row-actions" },
                alert.state === "active"
                  ? h("button", { type: "button", onclick: () => act(alert, "acknowledge"), "aria-label": `Acknowledge alert ${alert.alert_id} (${alert.rule} on ${alert.robot_id})` }, "Acknowledge")
                  : null,
                alert.state !== "resolved"
                  ? h("button", { type: "button", class: "secondary", onclick: () => act(alert, "resolve"), "aria-label": `Resolve alert ${alert.alert_id} (${alert.rule} on ${alert.robot_id})` }, "Resolve")
                  : null,
              )
            : "",
        ]),
      ),
    );
  });

  state.addEventListener("change", () => load().catch((e) => toast(e.message)));
  const socket = feed((item) => {
    if (item.type === "alert") load().catch(() => {});
  }, { kinds: ["alert"] });
  load().catch((error) => list.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return () => socket.close();
}
