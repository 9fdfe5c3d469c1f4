// Pause rules: the list (with "lift" for the operate scope) and the form that creates one.
import {api} from "./api.js";
import {h, time} from "./dom.js";

function holds(rule) {
  const what = [rule.workflow && `workflow ${rule.workflow}`,
    rule.execution_id && `execution ${rule.execution_id}`].filter(Boolean).join(" and ") || "everything";
  return rule.step_pattern ? `${what}, in front of steps matching '${rule.step_pattern}'` : `${what} (not claimed)`;
}

export function pauseRules(shell, rules, after) {
  if (!rules.length) return h("p", {class: "muted"}, "No active pause rules.");
  return h("table", {id: "pause-rules"},
    h("thead", {}, h("tr", {}, ["rule", "holds", "reason", "until", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, rules.map((rule) => h("tr", {dataset: {rule: rule.id}},
      h("td", {}, rule.id), h("td", {}, holds(rule)), h("td", {}, rule.reason || "-"),
      h("td", {}, rule.until ? time(rule.until) : "lifted by hand"),
      h("td", {}, shell.canOperate ? h("button", {class: "secondary", onclick: async (e) => {
        e.target.disabled = true;
        try {
          await api(`pauses/${rule.id}/unpause`, {method: "POST"});
          shell.toast(`Lifted pause rule ${rule.id}`);
          await after();
        } catch (error) {
          shell.toast(error.message, true);
          e.target.disabled = false;
        }
      }}, "Lift") : null)))));
}

/** A form creating a pause rule; `fixed` presets criteria (e.g. {execution: id}). */
export function pauseForm(shell, fixed, after) {
  const fields = {
    workflow: h("input", {type: "text", name: "workflow", placeholder: "any"}),
    step: h("input", {type: "text", name: "step", placeholder: "e.g. charge-*"}),
    reason: h("input", {type: "text", name: "reason"}),
    until: h("input", {type: "text", name: "until", placeholder: "e.g. 2h (blank: until lifted)"}),
  };
  const form = h("form", {class: "actions", id: "pause-form"},
    fixed.execution ? null : h("label", {}, "workflow", fields.workflow),
    h("label", {}, "in front of step", fields.step),
    h("label", {}, "reason", fields.reason),
    h("label", {}, "until", fields.until),
    h("button", {type: "submit"}, fixed.execution ? "Pause this execution" : "Pause"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {...fixed};
    for (const [key, input] of Object.entries(fields)) {
      if (input.value.trim()) body[key] = input.value.trim();
    }
    if (!body.workflow && !body.execution && !body.step) {
      shell.toast("Name a workflow or a step to pause", true);
      return;
    }
    try {
      const rule = await api("pauses", {method: "POST", body});
      shell.toast(`Pause rule ${rule.id} created`);
      form.reset();
      await after();
    } catch (error) {
      shell.toast(error.message, true);
    }
  });
  return form;
}
