// mxcensus web: sortable tables, filters that submit themselves, the upload form, jobs'
// progress. Served from /static (the Content-Security-Policy allows no inline script).
"use strict";

function cellValue(td) {
  const text = td.textContent.trim().replace(/,/g, "").replace(/%$/, "");
  const n = Number(text);
  return text !== "" && !Number.isNaN(n) ? n : td.textContent.trim().toLowerCase();
}

function makeSortable(table) {
  const heads = table.querySelectorAll("thead th");
  heads.forEach((th, i) => {
    th.classList.add("sort");
    th.addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const down = th.dataset.dir !== "desc";
      heads.forEach((h) => delete h.dataset.dir);
      th.dataset.dir = down ? "desc" : "asc";
      rows.sort((a, b) => {
        const x = cellValue(a.cells[i] || a.cells[0]);
        const y = cellValue(b.cells[i] || b.cells[0]);
        const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return down ? -c : c;
      });
      rows.forEach((r) => body.appendChild(r));
    });
  });
}

function dropEmpty(form) {
  // empty fields would only lengthen the address
  form.addEventListener("submit", () => {
    for (const el of Array.from(form.elements)) {
      if (el.name && el.value === "") el.disabled = true;
    }
  });
}

async function refreshJobs() {
  const table = document.getElementById("jobs");
  if (!table) return;
  let jobs;
  try {
    const r = await fetch("/api/v1/jobs", { credentials: "same-origin" });
    if (!r.ok) return;
    jobs = await r.json();
  } catch (e) {
    return;
  }
  const body = table.tBodies[0];
  body.textContent = "";
  for (const j of jobs) {
    const tr = body.insertRow();
    const pct = j.fraction === null ? "" : " (" + Math.round(100 * j.fraction) + "%)";
    for (const v of [j.id, j.title, j.by, j.state, j.progress + pct, j.result]) {
      tr.insertCell().textContent = String(v);  // text, never markup
    }
  }
  if (jobs.some((j) => j.state === "queued" || j.state === "running")) {
    setTimeout(refreshJobs, 1500);
  }
}

function upload(form) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const state = document.getElementById("upload-state");
    const file = form.elements.file.files[0];
    if (!file) return;
    const q = new URLSearchParams({ format: form.elements.format.value });
    if (form.elements.name.value) q.set("name", form.elements.name.value);
    state.textContent = "uploading…";
    const r = await fetch("/api/v1/imports?" + q, {
      method: "POST", body: file, credentials: "same-origin",
      headers: { "Content-Type": "application/octet-stream" },
    });
    const answer = await r.json().catch(() => ({}));
    state.textContent = r.ok ? "queued as job " + answer.id : "refused: " + (answer.detail || r.status);
    refreshJobs();
  });
}

function jobButtons() {
  for (const form of document.querySelectorAll("form.job")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await fetch(form.action, { method: "POST", credentials: "same-origin" });
      form.querySelector("button").textContent = r.ok ? "queued" : "refused";
      refreshJobs();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("select.autosubmit").forEach((s) =>
    s.addEventListener("change", () => s.form.requestSubmit()));
  document.querySelectorAll("form.filters").forEach(dropEmpty);
  const up = document.getElementById("upload");
  if (up) upload(up);
  jobButtons();
  refreshJobs();
});
