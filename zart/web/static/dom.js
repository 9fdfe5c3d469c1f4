// Building DOM nodes from data, always as text (never innerHTML), and formatting times.

/** h("a", {href: "#/x", class: "y"}, "text", child...) -> an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the content of `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(status) {
  return h("span", {class: `badge ${status}`}, status);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** A time in the browser's zone: 2026-12-02 05:49:18 (with milliseconds if asked). */
export function time(iso, millis = false) {
  if (!iso) return "-";
  const d = new Date(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${text}.${pad(d.getMilliseconds(), 3)}` : text;
}

/** Seconds as 12ms, 3.4s, 5m 3s, 2h 10m, 3d 4h. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "-";
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.round((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.round((seconds % 86400) / 3600)}h`;
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

/** A <pre> of a stored error: type, message, attributes and traceback. */
export function errorBlock(error) {
  if (!error) return null;
  const attrs = error.attributes && Object.keys(error.attributes).length
    ? `\nattributes: ${JSON.stringify(error.attributes)}` : "";
  return h("div", {},
    h("div", {class: "error"}, `${error.type || "Error"}: ${error.message || ""}`),
    error.traceback || attrs ? h("pre", {}, (error.traceback || "") + attrs) : null);
}
