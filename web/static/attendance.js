// The attendance page keeps itself current: the server pushes the register (who is in the
// class now, marks so far, minutes) whenever the ledger changes. Text only, never markup.
"use strict";

(function () {
  const table = document.getElementById("attendance");
  if (!table || !window.EventSource) return;
  const hereNow = document.getElementById("here-now");

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function apply(doc) {
    setText(hereNow, doc.here_text); // in the page's language, with its plural form
    hereNow.dataset.count = String(doc.here_now);
    for (const [mark, n] of Object.entries(doc.counts)) {
      setText(document.querySelector(`#summary .count[data-mark="${mark}"] .n`), String(n));
    }
    for (const r of doc.rows) {
      const tr = table.querySelector(`tbody tr[data-user="${r.user_id}"]`);
      if (!tr) continue; // someone added to the group since the page loaded: shown on reload
      tr.className = `mark-${r.mark}` + (r.here ? " here" : "");
      tr.dataset.mark = r.mark;
      tr.dataset.here = r.here ? "1" : "0";
      setText(tr.querySelector(".mark-label"), r.mark_label);
      const here = tr.querySelector(".here-label");
      if (here) here.hidden = !r.here;
      setText(tr.querySelector(".joined"), r.joined);
      setText(tr.querySelector(".left"), r.left);
      setText(tr.querySelector(".minutes"), r.minutes === null ? "" : String(r.minutes));
      // Quick questions' answers and breakout groups' moves, when there were any.
      lines(tr.querySelector(".answers"), r.answers, "answer");
      lines(tr.querySelector(".moves"), r.moves, "move");
    }
    table.dataset.updated = String(Date.now());
  }

  function lines(cell, texts, kind) {
    if (!cell || !texts || cell.dataset.said === texts.join("\n")) return;
    cell.dataset.said = texts.join("\n");
    cell.replaceChildren(...texts.flatMap((text, i) => {
      const line = document.createElement("span");
      line.className = kind;
      line.textContent = text;
      return i ? [document.createElement("br"), line] : [line];
    }));
  }

  const source = new EventSource(table.dataset.live);
  source.onmessage = (event) => {
    try {
      apply(JSON.parse(event.data));
    } catch (e) {
      console.error("sabaq: attendance update", e);
    }
  };
  // EventSource reconnects by itself after a drop; nothing to do on error.
})();
