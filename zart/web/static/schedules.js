// Cron schedules: the list, with pause/resume and "run now" for the operate scope.
import {api} from "./api.js";
import {h, time} from "./dom.js";

function state(schedule) {
  return schedule.paused ? h("span", {class: "status cancelled"}, "paused")
    : h("span", {}, `next ${time(schedule.next_tick)}`);
}

function action(shell, label, path, done, after) {
  return h("button", {class: "secondary", onclick: async (event) => {
    event.target.disabled = true;
    try {
      const answer = await api(path, {method: "POST"});
      shell.toast(done(answer));
      await after();
    } catch (error) {
      shell.toast(error.message, true);
      event.target.disabled = false;
    }
  }}, label);
}

export function scheduleList(shell, schedules, after) {
  if (!schedules.length) return h("p", {class: "muted"}, "No schedules.");
  return h("table", {id: "schedules"},
    h("thead", {}, h("tr", {}, ["schedule", "workflow", "cron", "state", "last run", "fired",
      "skipped", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, schedules.map((s) => {
      const path = `schedules/${encodeURIComponent(s.name)}`;
      const last = s.last_execution_id
        ? h("a", {href: `#/executions/${encodeURIComponent(s.last_execution_id)}`}, time(s.last_tick))
        : "-";
      return h("tr", {dataset: {schedule: s.name}},
        h("td", {}, s.name), h("td", {}, s.workflow),
        h("td", {}, s.tz === "UTC" ? s.expression : `${s.expression} (${s.tz})`),
        h("td", {}, state(s)), h("td", {}, last), h("td", {}, s.fired), h("td", {}, s.skipped),
        h("td", {}, shell.canOperate ? [
          s.paused ? action(shell, "Resume", `${path}/resume`, () => `Resumed ${s.name}`, after)
            : action(shell, "Pause", `${path}/pause`, () => `Paused ${s.name}`, after),
          action(shell, "Run now", `${path}/trigger`, (started) => `Started ${started.id}`, after),
        ] : null));
    })));
}
