// What the operate scope may do to one execution: cancel, retry, restart, resume, rerun from a
// command picked on the timeline, send an event, pause it and lift the rule that holds it.
// Destructive actions ask for a second click rather than a dialog.
import {api, executionPath} from "./api.js";
import {h} from "./dom.js";
import {pauseForm} from "./pauses.js";

const FINAL = ["completed", "failed", "cancelled"];

/** A button that acts on the second click within 4 seconds when `confirm` is set. */
function actionButton(shell, label, {id, confirm = false, cls = "", run}) {
  let armed = false;
  const button = h("button", {id, class: cls, type: "button", onclick: async () => {
    if (confirm && !armed) {
      armed = true;
      button.classList.add("armed");
      button.textContent = `${label}: click again`;
      setTimeout(() => { armed = false; button.classList.remove("armed"); button.textContent = label; }, 4000);
      return;
    }
    button.disabled = true;
    try {
      const message = await run();
      shell.toast(message);
    } catch (error) {
      shell.toast(error.message, true);
    } finally {
      button.disabled = false;
    }
  }}, label);
  return button;
}

function post(id, action, body = {}) {
  return api(`${executionPath(id)}/${action}`, {method: "POST", body});
}

export function actionBar(shell, d, reload) {
  const final = FINAL.includes(d.status);
  const done = async (message) => { await reload(); return message; };
  const buttons = [];
  if (!final) {
    buttons.push(actionButton(shell, "Cancel", {id: "do-cancel", confirm: true, cls: "danger",
      run: async () => done((await post(d.id, "cancel")).details.cancelled ? "Cancelled" : "It had already finished")}));
  }
  if (d.status === "failed") {
    buttons.push(actionButton(shell, "Retry", {id: "do-retry",
      run: async () => done(`Retrying: runs again ${(await post(d.id, "retry")).details.forgotten || ""}`)}));
  }
  if (d.status === "cancelled") {
    buttons.push(actionButton(shell, "Resume", {id: "do-resume",
      run: async () => done((await post(d.id, "resume"), "Resumed"))}));
  }
  if (final) {
    buttons.push(actionButton(shell, "Restart", {id: "do-restart", confirm: true, cls: "secondary",
      run: async () => done(`Restarted as run ${(await post(d.id, "restart")).details.run}`)}));
  }
  if (d.waiting.state === "paused" && d.waiting.rule) {
    buttons.push(actionButton(shell, `Lift pause rule ${d.waiting.rule}`, {id: "do-unpause",
      run: async () => done((await api(`pauses/${d.waiting.rule}/unpause`, {method: "POST"}), "Lifted"))}));
  }
  return h("section", {class: "card"}, h("h2", {}, "Actions"),
    h("div", {class: "actions"}, buttons),
    final ? null : [eventForm(shell, d, reload), h("details", {},
      h("summary", {}, "Pause this execution"), pauseForm(shell, {execution: d.id}, reload))]);
}

function eventForm(shell, d, reload) {
  const name = h("input", {type: "text", name: "event", id: "event-name", required: true,
    value: d.waiting.state === "event" ? d.waiting.event : ""});
  const payload = h("input", {type: "text", name: "payload", id: "event-payload", placeholder: "JSON, e.g. {\"ok\": true}"});
  const form = h("form", {class: "actions", id: "event-form"},
    h("label", {}, "event", name), h("label", {}, "payload", payload),
    h("button", {type: "submit"}, "Send event"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let value = null;
    if (payload.value.trim()) {
      try {
        value = JSON.parse(payload.value);
      } catch (error) {
        shell.toast(`The payload is not JSON: ${error.message}`, true);
        return;
      }
    }
    try {
      const sent = await post(d.id, "events", {name: name.value.trim(), payload: value});
      shell.toast(sent.delivered ? `Delivered ${sent.event}` : `Not delivered: ${sent.event} was sent before`);
      await reload();
    } catch (error) {
      shell.toast(error.message, true);
    }
  });
  return form;
}

/** "Rerun from here" for a command of a finished execution's current run. */
export function rerunButton(shell, d, command, reload) {
  if (!FINAL.includes(d.status)) return null;
  return h("div", {class: "actions"}, actionButton(shell, `Rerun from ${command.name}`, {
    id: "do-rerun", confirm: true, cls: "secondary",
    run: async () => {
      const rerun = await post(d.id, "rerun", {from_step: command.name});
      await reload();
      return `Rerunning from ${command.name} as run ${rerun.details.run}`;
    }}));
}
