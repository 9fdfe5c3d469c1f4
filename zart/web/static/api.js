// The JSON API, called with the session cookie and the double-submit CSRF header.

const csrf = document.querySelector('meta[name="zart-csrf"]')?.content || "";

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** GET (or POST with `body`) api/<path>; resolves to the JSON, rejects with ApiError. */
export async function api(path, {method = "GET", body} = {}) {
  const headers = {"Accept": "application/json"};
  const init = {method, headers, credentials: "same-origin"};
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-Zart-CSRF"] = csrf;
    init.body = JSON.stringify(body || {});
  }
  const response = await fetch(`api/${path}`, init);
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.type || "Error", error.message || response.statusText);
  }
  return data;
}

/** A query string from an object (arrays repeat the key; empty values are left out). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else if (value !== undefined && value !== null && value !== "") search.append(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const executionPath = (id) => `executions/${encodeURIComponent(id)}`;
