// One execution: where it is and why, its input and result or error, its runs as timelines
// (click a bar for its values and errors), its children and audit trail, and the actions the
// operate scope allows.
import {api, executionPath} from "./api.js";
import {badge, duration, errorBlock, fill, h, json, time} from "./dom.js";
import {drawTimeline} from "./timeline.js";
import {actionBar, rerunButton} from "./actions.js";

export async function showExecution(shell, id) {
  let selectedRun = null;  // null: the current run
  let selectedSeq = null;
  let detail = null;
  const header = h("div", {id: "header"});
  const actions = h("div", {id: "actions"});
  const body = h("div", {id: "body"});
  const runPicker = h("select", {id: "run", onchange: (e) => {
    selectedRun = Number(e.target.value);
    selectedSeq = null;
    drawRun();
  }});
  const timeline = h("div", {id: "timeline"});
  const details = h("div", {id: "details", class: "details"});
  const trail = h("div", {id: "trail"});
  fill(shell.main, header, actions,
    h("section", {class: "card"}, h("div", {class: "actions"}, h("h2", {}, "Timeline"),
      h("span", {class: "spacer"}), h("label", {class: "inline"}, "run ", runPicker)),
      timeline, details),
    body, trail);

  async function load() {
    detail = await api(executionPath(id));
    drawHeader(header, detail);
    fill(actions, shell.canOperate ? actionBar(shell, detail, load) : null);
    drawBody(body, detail);
    fill(runPicker, detail.runs.map((run) => h("option", {value: run.run,
      selected: run.run === (selectedRun ?? detail.run)}, `${run.run} (${run.began_by})`)));
    drawRun();
    drawTrail(trail, detail);
  }

  function currentRun() {
    return detail.runs.find((r) => r.run === (selectedRun ?? detail.run)) || detail.runs[detail.runs.length - 1];
  }

  function drawRun() {
    const run = currentRun();
    drawTimeline(timeline, run, {selected: selectedSeq, onSelect: (command) => {
      selectedSeq = command.seq;
      drawRun();
    }});
    const command = run.history.find((c) => c.seq === selectedSeq);
    fill(details, command ? commandDetails(shell, detail, run, command, load)
      : h("p", {class: "muted"}, "Click a bar for its values and errors."));
  }

  shell.refresh = load;
  await load();
}

function drawHeader(el, d) {
  fill(el,
    h("h1", {}, h("span", {class: "mono"}, d.id), " ", badge(d.status)),
    h("div", {class: "why", id: "why"}, d.waiting.text),
    h("dl", {class: "kv card"},
      h("dt", {}, "workflow"), h("dd", {}, d.workflow),
      h("dt", {}, "created"), h("dd", {}, time(d.created_at)),
      h("dt", {}, "updated"), h("dd", {}, time(d.updated_at)),
      h("dt", {}, "finished"), h("dd", {}, time(d.finished_at)),
      h("dt", {}, "run"), h("dd", {}, `${d.run}, the workflow's attempt ${d.attempt} of ${d.max_attempts}`),
      d.parent_id ? [h("dt", {}, "parent"), h("dd", {},
        h("a", {href: `#/executions/${encodeURIComponent(d.parent_id)}`}, d.parent_id))] : null));
}

function drawBody(el, d) {
  fill(el, h("div", {class: "grid"},
    h("section", {class: "card"}, h("h2", {}, "Input"), h("pre", {id: "input"}, json(d.input))),
    h("section", {class: "card"},
      d.error ? [h("h2", {}, "Error"), h("div", {id: "error"}, errorBlock(d.error))]
        : [h("h2", {}, "Result"), h("pre", {id: "result"}, d.status === "completed" ? json(d.result) : "(not finished)")])),
  d.children.length ? h("section", {class: "card"}, h("h2", {}, "Child workflows"),
    h("ul", {}, d.children.map((c) => h("li", {},
      h("a", {href: `#/executions/${encodeURIComponent(c.id)}`}, c.id), " ", badge(c.status))))) : null);
}

function drawTrail(el, d) {
  fill(el, h("section", {class: "card"}, h("h2", {}, "Operator actions"),
    d.actions.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["at", "action", "by", "details"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.actions.map((a) => h("tr", {},
        h("td", {}, time(a.at)), h("td", {}, a.action), h("td", {}, a.by || "-"),
        h("td", {class: "mono"}, a.details ? JSON.stringify(a.details) : "")))))
      : h("p", {class: "muted"}, "No operator has acted on it.")));
}

function commandDetails(shell, d, run, c, reload) {
  const took = c.finished_at && c.started_at
    ? duration((new Date(c.finished_at) - new Date(c.started_at)) / 1000) : "-";
  return h("div", {dataset: {seq: c.seq}},
    h("h2", {}, `#${c.seq} ${c.kind} ${c.name}`),
    h("dl", {class: "kv"},
      h("dt", {}, "status"), h("dd", {}, c.status + (c.ok === true ? " (ok)" : c.ok === false ? " (failed)" : "")),
      h("dt", {}, "created"), h("dd", {}, time(c.created_at, true)),
      h("dt", {}, "started"), h("dd", {}, time(c.started_at, true)),
      h("dt", {}, "finished"), h("dd", {}, time(c.finished_at, true)),
      h("dt", {}, "took"), h("dd", {}, took),
      c.wake_at && c.status !== "done" ? [h("dt", {}, c.kind === "event" ? "deadline" : "due"),
        h("dd", {}, time(c.wake_at, true))] : null,
      c.child_execution ? [h("dt", {}, "child"), h("dd", {},
        h("a", {href: `#/executions/${encodeURIComponent(c.child_execution)}`}, c.child_execution))] : null),
    c.preview !== null ? [h("h2", {}, "Value"), h("pre", {class: "value"}, c.preview)] : null,
    c.error ? [h("h2", {}, "Error"), errorBlock(c.error)] : null,
    c.attempts.length ? [h("h2", {}, "Attempts"), h("table", {class: "attempts"},
      h("thead", {}, h("tr", {}, ["#", "started", "took", "outcome"].map((t) => h("th", {}, t)))),
      h("tbody", {}, c.attempts.map((a) => h("tr", {},
        h("td", {}, a.attempt), h("td", {}, time(a.started_at, true)),
        h("td", {}, a.finished_at && a.started_at ? duration((new Date(a.finished_at) - new Date(a.started_at)) / 1000) : "-"),
        h("td", {}, a.ok === true ? "ok" : a.ok === false ? errorBlock(a.error) : "running")))))] : null,
    shell.canOperate && run.run === d.run ? rerunButton(shell, d, c, reload) : null);
}
