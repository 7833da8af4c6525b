// The REST API and the WebSocket feed, with the key of this tab's session.

const KEY = "fleetray.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  set token(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  me: null,
  onLoggedOut: () => {},
};

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (answer.status === 401) {
    session.token = null;
    session.onLoggedOut();
    throw new ApiError(401, "the key was refused; log in again");
  }
  if (!answer.ok) {
    let detail = `${answer.status} ${answer.statusText}`;
    try {
      const problem = await answer.json();
      detail = problem.detail || problem.title || detail;
    } catch { /* not a problem document */ }
    throw new ApiError(answer.status, detail);
  }
  return raw ? answer : answer.json();
}

/** Every item of a paged listing, a page at a time; ``onPage`` sees each page as it arrives. */
export async function pages(path, params = {}, onPage = () => {}) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ ...params, limit: "1000", ...(cursor ? { cursor } : {}) });
    const page = await api(`${path}?${query}`);
    items.push(...page.items);
    onPage(page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/**
 * The live feed: state updates and alerts of the caller's fleet, read by a worker (feed-worker.js) that
 * reconnects after a drop and hands over, a few times a second, the alerts and each robot's latest state.
 * Returns a handle whose ``close()`` ends it and ``subscribe(filter)`` narrows it.
 */
export function feed(onItem, filter = null) {
  const worker = new Worker("/dashboard/feed-worker.js");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  worker.onmessage = (event) => {
    if (event.data.loggedOut) {
      session.token = null;
      session.onLoggedOut();
      return;
    }
    event.data.items.forEach(onItem);
  };
  worker.postMessage({ open: { url: `${scheme}://${location.host}/v1/stream`, token: session.token, filter: filter || {} } });
  return {
    close() { worker.postMessage({ close: true }); },
    subscribe(next) { worker.postMessage({ subscribe: next }); },
  };
}

export function can(role) {
  const order = ["viewer", "planner", "operator", "admin"];
  return session.me && order.indexOf(session.me.role) >= order.indexOf(role);
}
