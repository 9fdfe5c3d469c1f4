// The overview: counts by status and workflow, executions started and finished over time,
// workers, pause rules (create and lift them with the operate scope) and cron schedules.
import {api, query} from "./api.js";
import {duration, fill, h, time} from "./dom.js";
import {pauseForm, pauseRules} from "./pauses.js";
import {scheduleList} from "./schedules.js";

const STATUSES = ["pending", "running", "waiting", "completed", "failed", "cancelled"];
const SPANS = {"1h": [3600, 30], "24h": [86400, 24], "7d": [7 * 86400, 28]};
let span = "24h";

export async function showOverview(shell) {
  const counts = h("div", {class: "counts", id: "counts"});
  const chart = h("div", {id: "activity"});
  const workflows = h("div", {id: "workflows"});
  const workers = h("div", {id: "workers"});
  const pauses = h("div", {id: "pauses"});
  const schedules = h("div", {id: "schedule-list"});
  const spanPicker = h("select", {id: "span", onchange: (e) => { span = e.target.value; draw(); }},
    Object.keys(SPANS).map((key) => h("option", {value: key, selected: key === span}, key)));
  fill(shell.main,
    h("h1", {}, "Overview"), counts,
    h("div", {class: "grid"},
      h("section", {class: "card"}, h("div", {class: "actions"},
        h("h2", {}, "Started and finished"), h("span", {class: "spacer"}), spanPicker), chart),
      h("section", {class: "card"}, h("h2", {}, "By workflow"), workflows)),
    h("div", {class: "grid"},
      h("section", {class: "card"}, h("h2", {}, "Workers"), workers),
      h("section", {class: "card"}, h("h2", {}, "Pause rules"), pauses,
        shell.canOperate ? pauseForm(shell, {}, draw) : null)),
    h("section", {class: "card"}, h("h2", {}, "Schedules"), schedules));

  async function draw() {
    const [stats, activity, workerList, rules, scheduleRows] = await Promise.all([
      api("stats"), api(`activity${query({span: SPANS[span][0], buckets: SPANS[span][1]})}`),
      api("workers"), api("pauses"), api("schedules")]);
    drawCounts(counts, stats);
    drawWorkflows(workflows, stats);
    drawActivity(chart, activity);
    drawWorkers(workers, workerList);
    fill(pauses, pauseRules(shell, rules, draw));
    fill(schedules, scheduleList(shell, scheduleRows, draw));
  }
  shell.refresh = draw;
  await draw();
}

function drawCounts(el, stats) {
  const total = Object.values(stats.by_status).reduce((a, b) => a + b, 0);
  fill(el,
    h("div", {class: "count"}, "all", h("b", {}, total)),
    STATUSES.map((status) => h("div", {class: "count", dataset: {status}},
      h("a", {href: `#/executions?status=${status}`}, status,
        h("b", {}, stats.by_status[status] || 0)))),
    h("div", {class: "count"}, "oldest due", h("b", {},
      stats.oldest_due_seconds === null ? "none" : duration(stats.oldest_due_seconds))),
    h("div", {class: "count"}, "live workers", h("b", {}, stats.live_workers)));
}

function drawWorkflows(el, stats) {
  const names = Object.keys(stats.by_workflow).sort();
  if (!names.length) return fill(el, h("p", {class: "muted"}, "No executions yet."));
  fill(el, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "workflow"),
      STATUSES.map((s) => h("th", {class: "num"}, s)))),
    h("tbody", {}, names.map((name) => h("tr", {},
      h("td", {}, h("a", {href: `#/executions?workflow=${encodeURIComponent(name)}`}, name)),
      STATUSES.map((s) => h("td", {class: "num"}, stats.by_workflow[name][s] || 0)))))));
}

function drawActivity(el, activity) {
  const buckets = activity.buckets;
  const finished = (b) => b.completed + b.failed + b.cancelled;
  const top = Math.max(1, ...buckets.map((b) => Math.max(b.started, finished(b))));
  const pct = (n) => `${(100 * n) / top}%`;
  const columns = buckets.map((b) => {
    const started = h("div", {class: "bar started"});
    started.style.height = pct(b.started);
    const stack = h("div", {class: "stack"});
    for (const kind of ["completed", "failed", "cancelled"]) {
      const seg = h("div", {class: `seg-${kind}`});
      seg.style.height = pct(b[kind]);
      stack.append(seg);
    }
    return h("div", {class: "col", title: `${time(b.start)}: started ${b.started}, ` +
      `completed ${b.completed}, failed ${b.failed}, cancelled ${b.cancelled}`}, started, stack);
  });
  fill(el, h("div", {class: "chart"}, columns),
    h("div", {class: "chart-axis"}, h("span", {}, time(activity.since)), h("span", {}, "now")),
    h("div", {class: "legend"},
      [["started", "var(--accent)"], ["completed", "var(--ok)"], ["failed", "var(--fail)"],
        ["cancelled", "var(--cancel)"]].map(([name, colour]) => {
        const swatch = h("i");
        swatch.style.background = colour;
        return h("span", {}, swatch, name);
      })));
}

function drawWorkers(el, workers) {
  if (!workers.length) return fill(el, h("p", {class: "muted"}, "No live workers."));
  fill(el, h("table", {},
    h("thead", {}, h("tr", {}, ["name", "host:pid", "threads", "heartbeat", "workflows"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, workers.map((w) => h("tr", {},
      h("td", {}, w.name, w.alive ? "" : " (silent)"), h("td", {}, `${w.host}:${w.pid}`),
      h("td", {}, w.threads), h("td", {}, time(w.heartbeat_at)),
      h("td", {}, w.workflows.join(", ")))))));
}
