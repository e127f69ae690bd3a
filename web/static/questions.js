// Quick questions in the class: the teacher (or a presenting guest) asks one from a dialog,
// students answer once within its time limit, the tally shows live to the asker and, when the
// asker chooses, to everyone. The server keeps the rules (one answer, the limit) and says no
// with an error; this shows the question, the answer form, the countdown and the results.
// room.js passes the messages in (handle, error) and calls stop when the class is over.
"use strict";

window.SabaqQuestions = function (ctx) {
  const $ = (id) => document.getElementById(id);
  const S = ctx.strings;
  const asks = ctx.role === "host" || ctx.role === "presenter";
  const answers = ctx.role === "learner";
  const panel = $("question");
  const dialog = $("ask");
  const ERRORS = ["already_answered", "question_closed", "no_question", "bad_choice", "bad_question", "question_open"];
  let current = null; // the question shown (as the server sent it)
  let results = null; // its last results, when this page is sent them
  let mine = null; // my counted answer's choices (a student)
  let closesAt = 0; // performance.now() when its time is over
  let ticker = null;

  function el(tag, props, children) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    (children || []).forEach((c) => e.append(c));
    return e;
  }

  function label(q, i) {
    const text = q.options[i];
    if (q.format !== "yes_no") return text;
    return text === "yes" ? S.qYes : text === "no" ? S.qNo : text;
  }

  function open() {
    return current && !current.closed && performance.now() < closesAt;
  }

  function timeLeft() {
    const s = Math.max(0, Math.ceil((closesAt - performance.now()) / 1000));
    const m = Math.floor(s / 60);
    return m ? `${m}:${String(s % 60).padStart(2, "0")}` : `${s}`;
  }

  function tick() {
    const timer = $("question-timer");
    if (!timer || !current) return;
    if (open()) {
      timer.textContent = S.qTimeLeft.replace("{time}", timeLeft());
    } else {
      timer.textContent = S.qClosed;
      clearInterval(ticker);
      ticker = null;
      const form = $("question-form");
      if (form) form.querySelectorAll("input, button").forEach((i) => { i.disabled = true; });
      renderAskerButtons();
    }
  }

  function renderResults() {
    const box = $("question-results");
    if (!box || !current) return;
    box.replaceChildren();
    if (!results || (!asks && !results.shown)) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const total = results.answered;
    if (results.withheld) {
      // Anonymous and open: how many answered, the counts once it closes.
      box.append(
        el("h3", { textContent: S.qResults }),
        el("p", { className: "answered", textContent: S.qAnsweredOf.replace("{n}", total).replace("{m}", results.present) }),
        el("p", { className: "note", textContent: S.qWithheld }),
      );
      box.dataset.answered = String(total);
      return;
    }
    const list = el("ul", { className: "tally" });
    current.options.forEach((_o, i) => {
      const n = results.tally[i] || 0;
      const pct = total ? Math.round((100 * n) / total) : 0;
      const meter = el("meter", { min: 0, max: Math.max(1, total), value: n });
      meter.setAttribute("aria-hidden", "true");
      const li = el("li", {}, [
        el("span", { className: "option", textContent: label(current, i) }),
        meter,
        el("span", { className: "n", textContent: `${n} (${pct}%)` }),
      ]);
      li.dataset.option = String(i);
      li.dataset.count = String(n);
      list.append(li);
    });
    const said = results.present !== undefined
      ? S.qAnsweredOf.replace("{n}", total).replace("{m}", results.present)
      : S.qAnswered.replace("{n}", total);
    box.append(el("h3", { textContent: S.qResults }), list, el("p", { className: "answered", textContent: said }));
    box.dataset.answered = String(total);
  }

  function renderAskerButtons() {
    const box = $("question-actions");
    if (!box) return;
    box.replaceChildren();
    if (!asks || !current) return;
    const shown = Boolean(results && results.shown);
    const show = el("button", { type: "button", className: "small", textContent: shown ? S.qHide : S.qShow });
    show.setAttribute("aria-pressed", String(shown));
    show.addEventListener("click", () => ctx.send("show_results", { question_id: current.id, on: !shown }));
    box.append(show);
    if (open()) {
      const close = el("button", { type: "button", className: "small", textContent: S.qCloseIt });
      close.id = "question-close";
      close.addEventListener("click", () => ctx.send("close_question", { question_id: current.id }));
      box.append(close);
    }
  }

  let answering = false; // an answer sent from the panel: its rebuild keeps the keyboard there

  function renderForm() {
    if (!answers) return null;
    const q = current;
    const multiple = q.format === "multiple";
    const form = el("form", { id: "question-form", className: "question-form" });
    const set = el("fieldset");
    set.append(el("legend", { textContent: multiple ? S.qChooseSeveral : S.qChooseOne }));
    const row = el("div", { className: "choices" });
    q.options.forEach((_o, i) => {
      const input = el("input", { type: multiple ? "checkbox" : "radio", name: "choice", value: String(i), id: `question-choice-${i}` });
      if (mine) {
        input.checked = mine.includes(i);
        input.disabled = true;
      }
      row.append(el("label", { className: "check choice" }, [input, ` ${label(q, i)}`]));
    });
    const submit = el("button", { type: "submit", className: "primary small", textContent: S.qAnswer, id: "question-submit" });
    submit.disabled = Boolean(mine) || !open();
    row.append(submit);
    set.append(row);
    form.append(set);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const choices = [...form.querySelectorAll("input:checked")].map((i) => Number(i.value));
      if (!choices.length) {
        say(multiple ? S.qChooseSeveral : S.qChooseOne);
        return;
      }
      answering = true; // the button is disabled, which takes the focus away: it comes back
      submit.disabled = true;
      ctx.send("answer_question", { question_id: q.id, choices: choices });
    });
    return form;
  }

  function say(text) {
    const note = $("question-note");
    if (note) {
      note.textContent = text;
      note.hidden = !text;
    }
  }

  function render(fresh) {
    const q = current;
    // Where the keyboard was: a panel rebuilt under it keeps the reader in it (the note once
    // answered, else the first choice), not back at the top of the page.
    const hadFocus = answering || panel.contains(document.activeElement);
    answering = false;
    panel.hidden = false;
    // Students are told in full whether their name goes with the answer; the asker, who chose,
    // sees a word for it (the results need the room on a phone).
    const head = [
      el("h2", { id: "question-title", textContent: S.qTitle }),
      el("span", { className: "question-timer", id: "question-timer" }),
    ];
    if (!answers) head.push(el("span", { className: "question-kind", textContent: q.anonymous ? S.qAnonymousTag : S.qNamedTag }));
    panel.replaceChildren(
      el("div", { className: "question-head" }, head),
      el("p", { className: "question-text", id: "question-text", textContent: q.text }),
    );
    if (answers) panel.append(el("p", { className: "note question-kind", textContent: q.anonymous ? S.qAnonymous : S.qNamed }));
    $("question-timer").setAttribute("role", "timer");
    const form = renderForm();
    if (form) panel.append(form);
    panel.append(
      el("p", { className: "note question-note", id: "question-note", hidden: true }),
      el("section", { id: "question-results", className: "question-results", hidden: true }),
      el("div", { id: "question-actions", className: "question-actions" }),
    );
    $("question-note").setAttribute("role", "status");
    if (mine) say(S.qCounted);
    renderResults();
    renderAskerButtons();
    tick();
    if (ticker) clearInterval(ticker);
    if (open()) ticker = setInterval(tick, 1000);
    if (fresh && answers && open()) {
      ctx.setStatus(S.qAsked); // short: the question itself is in its panel, not said twice
      const first = panel.querySelector("input");
      if (first && !panel.contains(document.activeElement)) first.focus({ preventScroll: false });
    } else if (hadFocus && !panel.contains(document.activeElement)) {
      const note = $("question-note");
      const target = mine && note && !note.hidden ? note : panel.querySelector("input:not([disabled]), button:not([disabled])");
      if (target === note) note.tabIndex = -1;
      if (target) target.focus({ preventScroll: true });
    }
  }

  // -- the asker's dialog -------------------------------------------------------------------
  function optionRows() {
    return [...$("ask-option-list").querySelectorAll("li")];
  }

  function addOption(value) {
    const list = $("ask-option-list");
    if (optionRows().length >= 6) return;
    const n = optionRows().length + 1;
    const input = el("input", { type: "text", maxLength: 120, value: value || "", className: "ask-option" });
    input.id = `ask-option-${Date.now()}-${n}`;
    const remove = el("button", { type: "button", className: "link", textContent: "×" });
    const li = el("li", {}, [el("label", { htmlFor: input.id, className: "sr-only" }), input, remove]);
    remove.addEventListener("click", () => {
      if (optionRows().length <= 2) return;
      li.remove();
      numberOptions();
      input.blur();
      $("ask-add").focus();
    });
    list.append(li);
    numberOptions();
    return input;
  }

  function numberOptions() {
    optionRows().forEach((li, i) => {
      li.querySelector("label").textContent = S.qOption.replace("{n}", i + 1);
      const remove = li.querySelector("button");
      remove.setAttribute("aria-label", S.qRemoveOption.replace("{n}", i + 1));
      remove.hidden = optionRows().length <= 2;
    });
    $("ask-add").hidden = optionRows().length >= 6;
  }

  function showOptions() {
    const yesNo = $("ask-form").elements.format.value === "yes_no";
    $("ask-options").hidden = yesNo;
  }

  function openDialog() {
    $("ask-error").hidden = true;
    $("ask-option-list").replaceChildren();
    $("ask-text").value = "";
    addOption("");
    addOption("");
    showOptions();
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    $("ask-text").focus();
  }

  function closeDialog() {
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
    $("ask-open").focus();
  }

  if (asks && dialog) {
    $("ask-open").addEventListener("click", openDialog);
    $("ask-cancel").addEventListener("click", closeDialog);
    $("ask-add").addEventListener("click", () => addOption("").focus());
    $("ask-form").addEventListener("change", showOptions);
    $("ask-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const form = $("ask-form");
      const format = form.elements.format.value;
      const text = $("ask-text").value.trim();
      const options = format === "yes_no" ? [] : optionRows().map((li) => li.querySelector("input").value.trim()).filter(Boolean);
      const err = $("ask-error");
      if (!text || (format !== "yes_no" && options.length < 2)) {
        err.textContent = S.qNeedOptions;
        err.hidden = false;
        return;
      }
      ctx.send("ask", {
        text: text,
        format: format,
        options: options,
        anonymous: $("ask-anonymous").checked,
        seconds: Number($("ask-seconds").value),
      });
      closeDialog();
    });
  }

  return {
    // A message of the questions' (question, answer_taken, question_results): true if taken.
    handle(msg) {
      if (msg.type === "question") {
        const fresh = !current || current.id !== msg.question.id;
        if (fresh) {
          mine = null;
          results = null;
        }
        current = msg.question;
        closesAt = performance.now() + 1000 * (msg.question.closed ? 0 : msg.question.remaining);
        render(fresh);
        return true;
      }
      if (msg.type === "answer_taken") {
        if (current && msg.id === current.id) {
          mine = msg.choices;
          render(false);
        }
        return true;
      }
      if (msg.type === "question_results") {
        if (current && msg.id === current.id) {
          results = { ...(results || {}), ...msg };
          renderResults();
          renderAskerButtons();
        }
        return true;
      }
      return false;
    },
    // An error of the questions' is said beside the question (or in the dialog's place).
    error(msg) {
      if (!ERRORS.includes(msg.code)) return false;
      const text = (ctx.errors && ctx.errors[msg.code]) || msg.message;
      if (current) say(text);
      else ctx.setStatus(text);
      if (msg.code === "bad_choice" && $("question-submit")) $("question-submit").disabled = false;
      return true;
    },
    // In the class again (joined again on this page): the asker's button is back.
    resume() {
      const btn = $("ask-open");
      if (btn) btn.hidden = false;
    },
    stop() {
      if (ticker) clearInterval(ticker);
      ticker = null;
      panel.hidden = true;
      if (dialog && dialog.open) closeDialog();
      const btn = $("ask-open");
      if (btn) btn.hidden = true;
    },
  };
};
