// Small helpers for building the page: elements, formatting, a toast.

/** An element with attributes (``on*`` are listeners, ``style`` an object) and children (strings become text, never HTML). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "style") Object.assign(element.style, value);  // CSSOM: the page's CSP refuses style attributes
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function statusBadge(status) {
  return h("span", { class: `status ${status || "offline"}` }, status || "unknown");
}

export function batteryBar(soc) {
  if (soc === null || soc === undefined) return "—";
  const share = Math.round(soc * 100);
  return h("span", {}, h("span", { class: "battery", "aria-hidden": "true" }, h("span", { style: { width: `${share}%` } })), `${share}%`);
}

export function ago(moment) {
  if (!moment) return "never";
  const seconds = Math.max(0, (Date.now() - new Date(moment).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function when(moment) {
  return moment ? new Date(moment).toLocaleString() : "—";
}

export function number(value, digits = 1) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

export function table(headers, rows, caption) {
  return h(
    "table",
    {},
    caption ? h("caption", { class: "hint" }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** Wraps an async loader so that, when calls overlap, only the latest one's answer is shown: answers can come
 * back out of order, and an older one must not overwrite a newer one. The loader gets a ``current()`` check. */
export function latestOnly(load) {
  let latest = 0;
  return (...args) => {
    const mine = ++latest;
    return load(() => mine === latest, ...args);
  };
}

let toastTimer = null;
export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove("shown"), 3500);
}

export function labelled(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", {}, h("label", { for: id }, label), control);
}

export function options(values, selected, all = "All") {
  return [h("option", { value: "" }, all), ...values.map((v) => h("option", { value: v, selected: v === selected }, v))];
}
