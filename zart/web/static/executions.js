// The executions: filters (status, workflow, id prefix, creation time) kept in the URL's hash,
// a page at a time with the API's cursor, refreshed live.
import {api, query} from "./api.js";
import {badge, fill, h, time} from "./dom.js";

const STATUSES = ["pending", "running", "waiting", "completed", "failed", "cancelled"];
const PAGE = 25;

function waitingOn(item) {
  if (!item.wait_kind) return item.status === "pending" && item.wake_at ? `due ${time(item.wake_at)}` : "";
  if (item.wait_kind === "event") return `event ${item.waiting_for}`;
  if (item.wait_kind === "sleep") return `sleep until ${time(item.wake_at)}`;
  if (item.wait_kind === "retry") return `retry of ${item.waiting_for || "the workflow"}`;
  if (item.wait_kind === "paused") return `paused before ${item.waiting_for || "a step"}`;
  return `${item.wait_kind} ${item.waiting_for || ""}`;
}

/** A datetime-local value (the browser's zone) as RFC 3339 with the zone's offset. */
function toIso(local) {
  if (!local) return "";
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return "";
  return d.toISOString();
}

function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function showExecutions(shell, params) {
  const filters = {
    status: params.getAll("status"),
    workflow: params.get("workflow") || "",
    id_prefix: params.get("id_prefix") || "",
    created_after: params.get("created_after") || "",
    created_before: params.get("created_before") || "",
  };
  const cursors = [null]; // the cursor of each page seen: [first, second, ...]
  const table = h("div", {id: "executions"});
  const pager = h("div", {class: "pager"});
  const form = filterForm(filters);
  fill(shell.main, h("h1", {}, "Executions"), h("div", {class: "card"}, form, table, pager));

  async function load() {
    const page = await api(`executions${query({...filters, limit: PAGE, cursor: cursors[cursors.length - 1]})}`);
    drawTable(table, page.items);
    fill(pager,
      h("button", {class: "secondary", id: "prev", disabled: cursors.length === 1,
        onclick: () => { cursors.pop(); load().catch((e) => shell.toast(e.message, true)); }}, "‹ Newer"),
      h("span", {class: "muted"}, `page ${cursors.length}`),
      h("button", {class: "secondary", id: "next", disabled: !page.cursor,
        onclick: () => { cursors.push(page.cursor); load().catch((e) => shell.toast(e.message, true)); }}, "Older ›"));
  }
  shell.refresh = load;
  await load();
}

function filterForm(filters) {
  const boxes = STATUSES.map((s) => h("label", {class: "inline"},
    h("input", {type: "checkbox", name: "status", value: s, checked: filters.status.includes(s)}), s));
  const text = (name, label) => h("label", {}, label,
    h("input", {type: "text", name, value: filters[name]}));
  const when = (name, label) => h("label", {}, label,
    h("input", {type: "datetime-local", name, value: toLocal(filters[name])}));
  const form = h("form", {class: "filters", id: "filters"},
    h("fieldset", {}, h("legend", {}, "status"), boxes),
    text("workflow", "workflow"), text("id_prefix", "id begins with"),
    when("created_after", "created after"), when("created_before", "created before"),
    h("button", {type: "submit"}, "Filter"),
    h("a", {href: "#/executions"}, "clear"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {
      status: data.getAll("status"),
      workflow: String(data.get("workflow") || "").trim(),
      id_prefix: String(data.get("id_prefix") || "").trim(),
      created_after: toIso(data.get("created_after")),
      created_before: toIso(data.get("created_before")),
    };
    location.hash = `#/executions${query(next)}`;
  });
  return form;
}

function drawTable(el, items) {
  if (!items.length) return fill(el, h("p", {class: "muted"}, "No executions match."));
  fill(el, h("table", {},
    h("thead", {}, h("tr", {}, ["id", "workflow", "status", "created", "updated", "waiting on"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, items.map((item) => h("tr", {dataset: {id: item.id}},
      h("td", {}, h("a", {href: `#/executions/${encodeURIComponent(item.id)}`, class: "mono"}, item.id)),
      h("td", {}, item.workflow), h("td", {}, badge(item.status)),
      h("td", {}, time(item.created_at)), h("td", {}, time(item.updated_at)),
      h("td", {class: "muted"}, waitingOn(item)))))));
}
