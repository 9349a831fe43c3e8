// The review page: one row of the sample at a time; keys 1/2/3 answer, arrows move. Every answer is saved by the
// server (appended to reviews/<reviewer>.jsonl) before the page moves on.
"use strict";

const token = document.querySelector('meta[name="review-token"]').content;
const KEYS = { "1": "same", "2": "not", "3": "cant_tell" };
let rows = [];
let position = 0;
let saving = false;

const $ = (id) => document.getElementById(id);

function done() { return rows.filter((row) => row.answer).length; }

function show() {
  const total = rows.length;
  $("progress").textContent = `${done()} of ${total} answered` + (position < total ? ` · row ${position + 1} of ${total}` : "");
  $("bar").style.width = `${total ? (100 * done()) / total : 0}%`;
  const finished = position >= total;
  $("row").hidden = finished;
  $("finished").hidden = !finished;
  if (finished) return;
  const row = rows[position];
  $("original").src = `/image/${encodeURIComponent(row.source_id)}`;
  $("edit").src = `/image/${encodeURIComponent(row.id)}`;
  $("edit-caption").textContent = `edit: ${row.domain}, severity ${row.severity}`;
  $("class-name").textContent = row.class_name;
  $("definition").textContent = row.definition;
  $("prompt").textContent = row.prompt;
  $("row-id").textContent = row.id;
  for (const button of document.querySelectorAll(".answers button")) {
    button.classList.toggle("chosen", button.dataset.answer === row.answer);
  }
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function answer(choice) {
  if (saving || position >= rows.length) return;
  saving = true;
  const row = rows[position];
  try {
    const response = await fetch("/api/verdict", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Review-Token": token },
      body: JSON.stringify({ id: row.id, answer: choice }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    row.answer = choice;
    status(`saved: ${row.id} → ${choice}`);
    const next = rows.findIndex((r, i) => i > position && !r.answer);
    position = next >= 0 ? next : (body.next < rows.length ? body.next : rows.length);
  } catch (error) {
    status(`not saved: ${error.message}`, true);
  } finally {
    saving = false;
    show();
  }
}

function move(step) {
  position = Math.min(rows.length, Math.max(0, position + step));
  status("");
  show();
}

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (KEYS[event.key]) { event.preventDefault(); answer(KEYS[event.key]); }
  else if (event.key === "ArrowLeft") { event.preventDefault(); move(-1); }
  else if (event.key === "ArrowRight") { event.preventDefault(); move(1); }
});

for (const button of document.querySelectorAll(".answers button")) {
  button.addEventListener("click", () => answer(button.dataset.answer));
}

fetch("/api/rows").then((r) => r.json()).then((state) => {
  rows = state.rows;
  position = state.next;
  show();
}).catch((error) => status(`could not load the sample: ${error.message}`, true));
