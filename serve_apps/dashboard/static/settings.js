// Settings: sites, robots and manufacturer connections for everyone to see; sites added by operators;
// keys, webhooks and manufacturer connections changed by admins.

import { api, can, pages, session } from "./api.js";
import { h, labelled, table, toast, when } from "./ui.js";

const ROLES = ["viewer", "planner", "operator", "admin", "device"];

function section(title, ...content) {
  const id = `s-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

/** A form of ``fields`` whose submit runs ``send``; a refusal is shown as the API put it. */
function sendingForm(send, ...fields) {
  const submit = async (event) => {
    event.preventDefault();
    try {
      await send();
    } catch (error) {
      toast(error.message);
    }
  };
  return h("form", { class: "toolbar", onsubmit: submit }, ...fields);
}

/** Delete ``path``, say ``done``, and reload the list it was in. */
async function deleteAndReload(path, done, reload) {
  try {
    await api(path, { method: "DELETE" });
    toast(done);
    await reload();
  } catch (error) {
    toast(error.message);
  }
}

function shownOnce(label, secret) {
  return h("div", { role: "alert" }, h("p", {}, `${label} (shown once; copy it now):`), h("p", { class: "token-once" }, secret));
}

export function settingsView(root) {
  const sites = h("div", {}, h("p", { class: "hint" }, "loading…"));
  const robots = h("div", {});
  const keys = h("div", {});
  const hooks = h("div", {});
  const clouds = h("div", {});
  root.replaceChildren(
    ...[
      h("h1", {}, "Settings"),
      section("Sites", sites),
      section("Robots", robots),
      can("admin") ? section("API keys", keys) : null,
      can("admin") ? section("Webhooks", hooks) : null,
      section("Manufacturer connectors", clouds),
    ].filter(Boolean),  // a viewer sees no keys or webhooks
  );

  async function loadSites() {
    const items = await pages("/v1/sites");
    const form = can("operator")
      ? (() => {
          const id = h("input", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.:-]*", maxlength: "128" });
          const name = h("input", { required: true, maxlength: "200" });
          const zone = h("input", { value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
          return sendingForm(
            async () => {
              await api("/v1/sites", { method: "POST", body: { site_id: id.value, name: name.value, timezone: zone.value } });
              toast(`site ${id.value} added`);
              await loadSites();
            },
            labelled("Site id", id),
            labelled("Name", name),
            labelled("Time zone", zone),
            h("button", { type: "submit" }, "Add site"),
          );
        })()
      : null;
    const listed = table(["Site", "Name", "Time zone", "Area (m²)"], items.map((s) => [s.site_id, s.name, s.timezone, s.area_m2 ?? "—"]));
    sites.replaceChildren(...[listed, form].filter(Boolean));
  }

  async function loadRobots() {
    const items = await pages("/v1/robots");
    const shown = items.slice(0, 500);
    robots.replaceChildren(
      table(["Robot", "Manufacturer", "Model", "Serial", "Site"], shown.map((r) => [r.robot_id, r.manufacturer, r.model, r.serial, r.site_id || "—"])),
      h("p", { class: "hint" }, items.length > shown.length ? `${items.length - shown.length} more; the Fleet page lists them all.` : `${items.length} robots.`),
    );
  }

  async function loadKeys() {
    const page = await api("/v1/keys?limit=200");
    const role = h("select", {}, ROLES.map((r) => h("option", { value: r }, r)));
    const robot = h("input", { placeholder: "for a device key" });
    const description = h("input", { maxlength: "200" });
    keys.replaceChildren(
      table(
        ["Key", "Role", "Robot", "Description", "Created", "Last used", ""],
        page.items.map((key) => [
          key.key_id,
          key.role,
          key.robot_id || "—",
          key.description,
          when(key.created_at),
          when(key.last_used_at),
          key.revoked_at
            ? "revoked"
            : key.key_id === session.me.key_id
              ? "this key"
              : h("button", { type: "button", class: "secondary", onclick: () => revoke(key.key_id), "aria-label": `Revoke key ${key.key_id}` }, "Revoke"),
        ]),
      ),
      sendingForm(
        async () => {
          const body = { role: role.value, description: description.value, ...(robot.value ? { robot_id: robot.value } : {}) };
          const made = await api("/v1/keys", { method: "POST", body });
          await loadKeys();
          keys.append(shownOnce(`New ${made.key.role} key ${made.key.key_id}`, made.token));
        },
        labelled("Role", role),
        labelled("Robot", robot),
        labelled("Description", description),
        h("button", { type: "submit" }, "Create key"),
      ),
    );
  }

  const revoke = (keyId) => deleteAndReload(`/v1/keys/${keyId}`, `key ${keyId} revoked`, loadKeys);

  async function loadHooks() {
    const page = await api("/v1/webhooks?limit=200");
    const url = h("input", { type: "url", required: true, placeholder: "https://…" });
    const rules = h("input", { placeholder: "all rules, or e.g. battery_low,offline" });
    hooks.replaceChildren(
      page.items.length
        ? table(
            ["URL", "Rules", "From severity", "Created", ""],
            page.items.map((w) => [
              w.url,
              (w.alert_rules || []).join(", ") || "all",
              w.min_severity,
              when(w.created_at),
              h("button", { type: "button", class: "secondary", "aria-label": `Delete webhook ${w.url}`, onclick: () => removeHook(w.subscription_id) }, "Delete"),
            ]),
          )
        : h("p", { class: "hint" }, "No webhooks."),
      sendingForm(
        async () => {
          const body = { url: url.value, ...(rules.value ? { alert_rules: rules.value.split(",").map((r) => r.trim()) } : {}) };
          const made = await api("/v1/webhooks", { method: "POST", body });
          await loadHooks();
          hooks.append(shownOnce(`Signing secret of ${made.webhook.url}`, made.secret));
        },
        labelled("URL", url),
        labelled("Alert rules", rules),
        h("button", { type: "submit" }, "Add webhook"),
      ),
    );
  }

  const removeHook = (id) => deleteAndReload(`/v1/webhooks/${id}`, "webhook deleted", loadHooks);

  async function loadClouds() {
    const { installed, accounts } = await api("/v1/connectors");
    const listed = accounts.length
      ? table(
          ["Connector", "Manufacturer", "API", "Every", "Last poll", "Last error", "Webhook URL", ...(can("admin") ? [""] : [])],
          accounts.map((a) => [
            a.connector,
            a.manufacturer,
            a.base_url,
            `${a.poll_interval_s} s`,
            a.last_polled_at ? when(a.last_polled_at) : "not yet",
            a.last_error || "",
            a.webhook_url,
            ...(can("admin")
              ? [h("button", { type: "button", class: "secondary", "aria-label": `Disconnect ${a.connector}`, onclick: () => disconnect(a.connector) }, "Disconnect")]
              : []),
          ]),
        )
      : h("p", { class: "hint" }, `No manufacturer's cloud is connected. Installed connectors: ${installed.join(", ") || "none"}.`);
    if (!can("admin")) {
      clouds.replaceChildren(listed);
      return;
    }
    const connector = h("select", { required: true }, installed.map((name) => h("option", { value: name }, name)));
    const url = h("input", { type: "url", required: true, placeholder: "https://…" });
    const token = h("input", { type: "password", required: true, autocomplete: "off" });
    const every = h("input", { type: "number", min: "1", step: "any", value: "30" });
    const rate = h("input", { type: "number", min: "0.1", step: "any", value: "5" });
    const site = h("input", { placeholder: "optional" });
    clouds.replaceChildren(
      listed,
      sendingForm(
        async () => {
          const body = { base_url: url.value, api_token: token.value, poll_interval_s: Number(every.value), requests_per_s: Number(rate.value), ...(site.value ? { site_id: site.value } : {}) };
          const saved = await api(`/v1/connectors/${connector.value}`, { method: "PUT", body });
          token.value = "";
          await loadClouds();
          toast(`${connector.value} connected; polled within seconds`);
          if (saved.webhook_secret) clouds.append(shownOnce(`Webhook signing secret for ${saved.account.webhook_url}`, saved.webhook_secret));
        },
        labelled("Connector", connector),
        labelled("API base URL", url),
        labelled("API token", token),
        labelled("Poll every (s)", every),
        labelled("Requests per second", rate),
        labelled("Default site", site),
        h("button", { type: "submit" }, "Connect"),
      ),
    );
  }

  const disconnect = (name) => deleteAndReload(`/v1/connectors/${name}`, `${name} disconnected`, loadClouds);

  const failed = (error) => sites.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
  loadSites().catch(failed);
  loadRobots().catch(failed);
  loadClouds().catch(failed);
  if (can("admin")) {
    loadKeys().catch(failed);
    loadHooks().catch(failed);
  }
  return () => {};
}

export function reportsView(root) {
  const list = h("div", {}, h("p", { class: "hint" }, "loading…"));
  const make = h("button", { type: "button", id: "report-current" }, "This week so far");
  const last = h("button", { type: "button", class: "secondary", id: "report-last" }, "Last week");
  root.replaceChildren(h("h1", {}, "Weekly reports"), h("div", { class: "toolbar" }, make, last), list);

  async function open(week, format) {
    // Fetched with the key, then shown from memory: the key never goes into a URL.
    const answer = await api(`/v1/reports/weekly/${week}?format=${format}`, { raw: true });
    const url = URL.createObjectURL(await answer.blob());
    window.open(url, "_blank", "noopener");
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  async function load() {
    const page = await api("/v1/reports/weekly");
    list.replaceChildren(
      page.items.length
        ? table(
            ["Week", "Complete", "Made", "By", ""],
            page.items.map((r) => [
              r.week,
              r.complete ? "yes" : "so far",
              when(r.generated_at),
              r.generated_by,
              h(
                "span",
                { class: "row-actions" },
                h("button", { type: "button", onclick: () => open(r.week, "html").catch((e) => toast(e.message)) }, "HTML"),
                h("button", { type: "button", class: "secondary", onclick: () => open(r.week, "pdf").catch((e) => toast(e.message)) }, "PDF"),
              ),
            ]),
          )
        : h("p", { class: "hint" }, "No report yet: the platform makes last week's every Monday, or make one now."),
    );
  }

  for (const [button, week] of [[make, "current"], [last, "last"]]) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api(`/v1/reports/weekly/${week}`);
        await load();
      } catch (error) {
        toast(error.message);
      } finally {
        button.disabled = false;
      }
    });
  }
  load().catch((error) => list.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return () => {};
}
