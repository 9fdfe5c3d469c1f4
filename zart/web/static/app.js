// The dashboard's shell: a hash router (#/, #/executions?..., #/executions/<id>), live refresh,
// the caller's scope, and messages.
import {api} from "./api.js";
import {fill, h} from "./dom.js";
import {showOverview} from "./overview.js";
import {showExecutions} from "./executions.js";
import {showExecution} from "./execution.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
const REFRESH_MS = 3000;

/** What every page gets: where to draw, whether it may act, and how to tell the user. */
export const shell = {
  main,
  canOperate: false,
  refresh: null, // the current page's refresh function, called while "live" is on
  toast(message, isError = false) {
    const note = h("div", {class: isError ? "error" : ""}, message);
    document.getElementById("toast").append(note);
    setTimeout(() => note.remove(), isError ? 8000 : 4000);
  },
};

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  shell.refresh = null;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("current", link.dataset.nav === (parts[0] || "overview"));
  }
  let page;
  if (parts.length === 0) page = showOverview(shell);
  else if (parts[0] === "executions" && parts.length === 1) page = showExecutions(shell, params);
  else if (parts[0] === "executions") page = showExecution(shell, parts.slice(1).join("/"));
  else {
    fill(main, h("p", {}, "No such page. ", h("a", {href: "#/"}, "Overview")));
    return;
  }
  page.catch((error) => failed(error));
}

export function failed(error) {
  fill(main, h("div", {class: "card"}, h("h1", {}, "Could not load this page"),
    h("p", {class: "error"}, error.message || String(error))));
}

async function start() {
  try {
    const session = await api("session");
    shell.canOperate = session.scope === "operate";
    document.getElementById("who").textContent = `${session.scope} (${session.via})`;
    document.getElementById("logout").hidden = session.via !== "session";
  } catch (error) {
    shell.toast(`session: ${error.message}`, true);
  }
  live.checked = localStorage.getItem("zart-live") !== "off";
  live.addEventListener("change", () => localStorage.setItem("zart-live", live.checked ? "on" : "off"));
  window.addEventListener("hashchange", route);
  route();
  setInterval(() => {
    if (live.checked && shell.refresh && !document.hidden) {
      shell.refresh().catch((error) => shell.toast(`refresh: ${error.message}`, true));
    }
  }, REFRESH_MS);
}

start();
