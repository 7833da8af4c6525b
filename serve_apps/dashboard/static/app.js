// The dashboard's shell: log in with an API key, then one page per hash route.

import { ApiError, api, session } from "./api.js";
import { alertsView } from "./alerts.js";
import { fleetView } from "./fleet.js";
import { robotView } from "./robot.js";
import { schedulesView } from "./schedules.js";
import { reportsView, settingsView } from "./settings.js";

const ROUTES = [
  [/^#\/robot\/(.+)$/, (root, match) => robotView(root, decodeURIComponent(match[1])), "#/fleet"],
  [/^#\/alerts$/, alertsView, "#/alerts"],
  [/^#\/schedules$/, schedulesView, "#/schedules"],
  [/^#\/reports$/, reportsView, "#/reports"],
  [/^#\/settings$/, settingsView, "#/settings"],
  [/^.*$/, fleetView, "#/fleet"],
];

const view = document.getElementById("view");
let leave = () => {};

function showLogin(message = "") {
  leave();
  leave = () => {};
  view.replaceChildren();
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
  document.getElementById("token").focus();
}

function route() {
  if (!session.me) return;
  const [pattern, render, tab] = ROUTES.find(([pattern]) => pattern.test(location.hash));
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  leave();
  leave = render(view, location.hash.match(pattern)) || (() => {});
  document.getElementById("main").focus({ preventScroll: true });
}

async function start() {
  if (!session.token) return showLogin();
  try {
    session.me = await api("/v1/me");
  } catch (error) {
    session.token = null;
    return showLogin(error instanceof ApiError && error.status !== 401 ? error.message : "That key was refused.");
  }
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = `${session.me.tenant_id} · ${session.me.role}`;
  route();
}

session.onLoggedOut = () => {
  session.me = null;
  showLogin("Logged out: the key was refused or revoked.");
};

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  session.token = field.value.trim();
  field.value = "";
  start();
});
document.getElementById("logout").addEventListener("click", () => {
  session.token = null;
  session.me = null;
  showLogin();
});
window.addEventListener("hashchange", route);
start();
