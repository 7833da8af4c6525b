// Alerts: the open ones first, acknowledged and resolved on request; new ones arrive live.

import { api, can, feed } from "./api.js";
import { h, labelled, table, toast, when } from "./ui.js";

export function alertsView(root) {
  const state = h("select", { id: "alert-state" }, ["active", "acknowledged", "resolved", ""].map((s) => h("option", { value: s }, s || "all")));
  const list = h("div", { "aria-live": "polite" }, h("p", { class: "hint" }, "loading…"));
  root.replaceChildren(h("h1", {}, "Alerts"), h("div", { class: "toolbar" }, labelled("State", state)), list);

  async function act(alert, action) {
    try {
      await api(`/v1/alerts/${alert.alert_id}/${action}`, { method: "POST" });
      toast(`alert ${alert.alert_id} ${action === "acknowledge" ? "acknowledged" : "resolved"}`);
      await load();
    } catch (error) {
      toast(error.message);
    }
  }

  async function load() {
    const query = new URLSearchParams({ limit: "200", ...(state.value ? { state: state.value } : {}) });
    const page = await api(`/v1/alerts?${query}`);
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
  }

  state.addEventListener("change", () => load().catch((e) => toast(e.message)));
  const socket = feed((item) => {
    if (item.type === "alert") load().catch(() => {});
  }, { kinds: ["alert"] });
  load().catch((error) => list.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return () => socket.close();
}
