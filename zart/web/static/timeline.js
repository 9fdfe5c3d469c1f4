// The timeline of one run: a lane per command, each drawn as bars on one time axis: a step's
// attempts (green ok, red failed) with the retry delays between them (hatched), sleeps, event
// waits (with their deadline), child workflows; parallel children sit in a group side by side.
import {duration, fill, h, time} from "./dom.js";

const ms = (iso) => (iso ? new Date(iso).getTime() : null);

/** Segments [{from, to, kind, open, title}] of one command, in epoch milliseconds. */
function segments(command, now) {
  const out = [];
  const created = ms(command.created_at);
  const finished = ms(command.finished_at);
  const end = finished ?? now;
  const open = !finished;
  if (command.kind === "step") {
    let previous = null;
    for (const attempt of command.attempts) {
      const from = ms(attempt.started_at) ?? created;
      const to = ms(attempt.finished_at) ?? now;
      if (previous !== null && from > previous) {
        out.push({from: previous, to: from, kind: "delay", title: "retry delay"});
      }
      const kind = attempt.ok === false ? "failed" : attempt.ok ? "ok" : "running";
      out.push({from, to, kind, open: !attempt.finished_at,
        title: `attempt ${attempt.attempt}: ${kind}` +
          (attempt.error ? ` (${attempt.error.type}: ${attempt.error.message})` : "")});
      previous = to;
    }
    const wake = ms(command.wake_at);
    if (command.status !== "done" && previous !== null && wake && wake > previous) {
      out.push({from: previous, to: wake, kind: "delay", open: true, title: "next attempt due"});
    }
    if (!command.attempts.length) {
      out.push({from: created, to: end, kind: command.status === "cancelled" ? "cancelled" : "pending",
        open, title: command.status});
    }
  } else if (command.kind === "sleep") {
    out.push({from: created, to: end, kind: "sleep", open,
      title: `sleep until ${time(command.wake_at || command.finished_at)}`});
  } else if (command.kind === "event") {
    out.push({from: created, to: end, kind: command.ok === false ? "failed" : "event", open,
      title: command.ok === false ? "event wait timed out" : `waiting for event ${command.name}`});
  } else if (command.kind === "child") {
    out.push({from: created, to: end, kind: command.ok === false ? "failed" : "child", open,
      title: `child workflow ${command.child_execution || ""}`});
  } else {
    out.push({from: created, to: end, kind: "capture", open, title: command.kind});
  }
  return out;
}

/** Consecutive parallel children created together form one group. */
function groups(history) {
  const out = [];
  for (const command of history) {
    const last = out[out.length - 1];
    if (command.child && last && last.parallel && last.created === command.created_at) {
      last.commands.push(command);
    } else {
      out.push({parallel: command.child, created: command.created_at, commands: [command]});
    }
  }
  return out;
}

function ticks(start, end) {
  const span = end - start;
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000,
    60000, 120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
  const step = steps.find((s) => span / s <= 8) || 86400000 * Math.ceil(span / 86400000 / 8);
  const out = [];
  for (let t = 0; t <= span; t += step) out.push(t);
  return out;
}

/**
 * Draw `run`'s history into `el`; `onSelect(command)` is called when a bar or a label is
 * clicked, `selected` (a seq) is highlighted.
 */
export function drawTimeline(el, run, {now = Date.now(), selected = null, onSelect} = {}) {
  const history = run.history;
  if (!history.length) return fill(el, h("p", {class: "muted"}, "No commands yet."));
  const all = history.flatMap((c) => segments(c, now));
  const start = Math.min(ms(run.started_at), ...all.map((s) => s.from));
  const end = Math.max(start + 1, ...all.map((s) => s.to), ms(run.ended_at) ?? 0);
  const pct = (t) => `${(100 * (t - start)) / (end - start)}%`;
  const width = (a, b) => `${(100 * Math.max(b - a, 0)) / (end - start)}%`;
  const axis = h("div", {class: "axis"}, ticks(start, end).map((t) => {
    const tick = h("span", {class: "tick"}, `+${duration(t / 1000)}`);
    tick.style.left = pct(start + t);
    return tick;
  }));
  const rows = [h("div", {class: "label muted"}, time(new Date(start).toISOString(), true)), axis];
  for (const group of groups(history)) {
    if (group.parallel) {
      rows.push(h("div", {class: "label group"}, `parallel × ${group.commands.length}`), h("div", {class: "lane"}));
    }
    for (const command of group.commands) {
      const inGroup = group.parallel ? " in-group" : "";
      const isSelected = command.seq === selected ? " selected" : "";
      const pick = () => onSelect && onSelect(command);
      rows.push(h("div", {class: `label${inGroup}${isSelected}`, title: command.name,
        dataset: {seq: command.seq}, onclick: pick},
        h("span", {class: "kind"}, command.kind), command.name));
      const lane = h("div", {class: `lane${inGroup}${isSelected}`, dataset: {seq: command.seq}});
      for (const seg of segments(command, now)) {
        const bar = h("div", {class: `seg ${seg.kind}${seg.open ? " open" : ""}`,
          title: `${command.name}: ${seg.title}, ${duration((seg.to - seg.from) / 1000)}`,
          dataset: {seq: command.seq, kind: seg.kind}, onclick: pick});
        bar.style.left = pct(seg.from);
        bar.style.width = width(seg.from, seg.to);
        lane.append(bar);
      }
      if ((command.kind === "event" || command.kind === "sleep") && command.status !== "done" && command.wake_at) {
        const deadline = ms(command.wake_at);
        if (deadline <= end) {
          const what = command.kind === "event" ? "deadline" : "wakes";
          const mark = h("div", {class: "deadline", title: `${what} ${time(command.wake_at)}`});
          mark.style.left = pct(deadline);
          lane.append(mark);
        }
      }
      rows.push(lane);
    }
  }
  fill(el, h("div", {class: "timeline"}, rows));
}
