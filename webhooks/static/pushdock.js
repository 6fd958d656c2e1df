// Live updates for the status pages: the run log over server-sent events, and statuses that
// change without a reload. Everything inserted as HTML was escaped by the server.
"use strict";

const FINISHED = ["success", "failed", "cancelled", "superseded", "error"];

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return Math.round(seconds * 1000) + "ms";
  if (seconds < 10) return seconds.toFixed(1) + "s";
  if (seconds < 60) return Math.round(seconds) + "s";
  const minutes = Math.floor(seconds / 60), rest = Math.floor(seconds % 60);
  if (minutes < 60) return minutes + "m" + String(rest).padStart(2, "0") + "s";
  return Math.floor(minutes / 60) + "h" + String(minutes % 60).padStart(2, "0") + "m";
}

function setStatus(element, status) {
  if (!element) return;
  element.textContent = status;
  element.className = "status " + status;
}

function followRun(root) {
  const log = document.getElementById("log");
  const after = document.getElementById("log-end").dataset.after;
  const source = new EventSource(root.dataset.log + "?after=" + encodeURIComponent(after));
  source.addEventListener("line", (event) => {
    const data = JSON.parse(event.data);
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    const line = document.createElement("div");
    line.className = "line";
    const stage = document.createElement("span");
    stage.className = "stage";
    stage.textContent = data.stage.padEnd(9, " ");
    line.appendChild(stage);
    line.insertAdjacentHTML("beforeend", data.html);
    log.appendChild(line);
    if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  source.addEventListener("status", (event) => {
    const run = JSON.parse(event.data);
    root.dataset.status = run.status;
    setStatus(document.getElementById("run-status"), run.status);
    document.getElementById("run-duration").textContent = formatDuration(run.duration);
    const reason = document.getElementById("run-reason");
    reason.textContent = run.reason;
    reason.hidden = !run.reason;
    for (const stage of run.stages) {
      const row = document.querySelector(`tr.stage[data-stage="${stage.name}"]`);
      if (!row) continue;
      setStatus(row.querySelector('[data-field="status"]'), stage.status);
      row.querySelector('[data-field="duration"]').textContent = formatDuration(stage.duration);
    }
    if (FINISHED.includes(run.status)) {
      const cancel = document.getElementById("cancel-form");
      if (cancel) cancel.remove();
    }
  });
  source.addEventListener("end", () => source.close());
}

async function refreshRuns() {
  const rows = document.querySelectorAll("tr.run");
  for (const row of rows) {
    if (FINISHED.includes(row.dataset.status)) continue;
    try {
      const response = await fetch("/api/runs/" + row.dataset.run);
      if (!response.ok) continue;
      const run = await response.json();
      row.dataset.status = run.status;
      setStatus(row.querySelector('[data-field="status"]'), run.status);
      row.querySelector('[data-field="stage"]').textContent = run.stage || "";
      row.querySelector('[data-field="duration"]').textContent = formatDuration(run.duration);
    } catch (error) {
      // the next round tries again
    }
  }
}

async function refreshProjects() {
  try {
    const response = await fetch("/api/projects");
    if (!response.ok) return;
    for (const project of await response.json()) {
      const row = document.querySelector(`tr.project[data-project="${project.name}"]`);
      if (row && project.last_run) {
        setStatus(row.querySelector('[data-field="last-status"]'), project.last_run.status);
      }
    }
  } catch (error) {
    // the next round tries again
  }
}

// The Processes section of a project page, as the server renders it: swapped in whole, each
// process's log kept at its bottom when it was there (a person reading older lines is not
// moved).
async function refreshProcesses(section) {
  try {
    const response = await fetch(section.dataset.url);
    if (!response.ok) return;
    const html = await response.text();
    const following = {};
    for (const log of section.querySelectorAll(".process-log")) {
      following[log.dataset.process] = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
    }
    section.innerHTML = html;
    for (const log of section.querySelectorAll(".process-log")) {
      if (following[log.dataset.process] !== false) log.scrollTop = log.scrollHeight;
    }
  } catch (error) {
    // the next round tries again
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const processes = document.getElementById("processes");
  if (processes) {
    for (const log of processes.querySelectorAll(".process-log")) log.scrollTop = log.scrollHeight;
    setInterval(() => refreshProcesses(processes), 2000);
  }
  const run = document.getElementById("run");
  if (run && !FINISHED.includes(run.dataset.status)) followRun(run);
  if (document.querySelector("tr.run")) setInterval(refreshRuns, 2000);
  if (document.querySelector('[data-kind="dashboard"]')) setInterval(refreshProjects, 3000);
});
