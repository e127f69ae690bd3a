// Breakout groups on the class page. The teacher splits the students present (at random, by
// hand — a choice of group beside each name, by tap or keyboard — or from the split last saved
// for the study group, which the server keeps in the record), sets a duration and where late students go, and opens the groups; then visits
// any group (or the main room), sends a message to all groups, adds time and closes them. A
// student sees their group, the time left and the teacher's messages; the gallery shows only
// those in the same group (the server sends nothing of the others). The server keeps the rules
// and says no with an error. room.js passes the messages in (handle, roster, error, welcome).
"use strict";

window.SabaqBreakout = function (ctx) {
  const $ = (id) => document.getElementById(id);
  const S = ctx.strings;
  const leads = ctx.role === "host" || ctx.role === "presenter";
  const isHost = ctx.role === "host";
  const panel = $("breakout");
  const dialog = $("breakout-dialog");
  const ERRORS = ["breakout_open", "no_breakout", "no_such_group", "too_few_learners", "bad_breakout"];
  let savedSplit = Array.isArray(ctx.savedSplit) ? ctx.savedSplit : null; // from the server
  let current = null; // the open groups, as the server sent them
  let endsAt = 0; // performance.now() when their time is over
  let ticker = null;
  let people = []; // the roster's participants
  let groupOf = new Map(); // participant id → group (null: the main room)

  function el(tag, props, children) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    (children || []).forEach((c) => e.append(c));
    return e;
  }

  function groupName(i) {
    return i === null || i === undefined ? S.boMainRoom : S.boGroup.replace("{n}", () => i + 1);
  }

  function clock(seconds) {
    const m = Math.floor(seconds / 60);
    return `${m}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function secondsLeft() {
    return Math.max(0, Math.ceil((endsAt - performance.now()) / 1000));
  }

  function tick() {
    const timer = $("breakout-time");
    if (!current || !timer) return;
    const left = secondsLeft();
    timer.textContent = S.boTimeLeft.replace("{time}", () => clock(left));
    timer.dataset.remaining = String(left);
  }

  // -- the panel: where I am, the time left, the teacher's messages, the teacher's buttons --
  function render() {
    const start = $("breakout-start");
    if (start) start.hidden = Boolean(current);
    // A student shares a screen in a group only; back in the main room the share stops.
    const share = $("share");
    if (share && !leads) {
      const inGroup = Boolean(current) && current.group !== null;
      if (!inGroup) ctx.stopScreen();
      share.hidden = !inGroup;
    }
    if (!panel) return;
    panel.hidden = !current;
    if (!current) return;
    const where = $("breakout-where");
    where.textContent = leads
      ? S.boOpenLead.replace("{n}", () => current.groups.length).replace("{where}", () => groupName(current.group))
      : current.group === null
        ? S.boWaiting
        : S.boYouAreIn.replace("{n}", () => current.group + 1);
    panel.dataset.group = current.group === null ? "main" : String(current.group);
    tick();
    const lead = $("breakout-lead");
    if (!lead) return;
    lead.hidden = false;
    const visits = $("breakout-visits");
    visits.replaceChildren(
      ...[null, ...current.groups.map((_, i) => i)].map((i) => {
        const b = el("button", { type: "button", className: "small", textContent: groupName(i) });
        b.dataset.group = i === null ? "main" : String(i);
        b.setAttribute("aria-pressed", String(current.group === i));
        b.addEventListener("click", () => ctx.send("move_to_group", { group: i }));
        return b;
      }),
    );
  }

  function say(text) {
    const news = $("breakout-news");
    if (!news) return;
    news.textContent = text;
    news.hidden = false;
  }

  function open(msg) {
    const was = current;
    if (msg.saved && (!was || was.id !== msg.id)) savedSplit = msg.groups; // as opened
    current = msg;
    endsAt = performance.now() + (Number(msg.remaining) || 0) * 1000;
    if (!ticker) ticker = setInterval(tick, 1000);
    if (!was) say("");
    if (!was || was.group !== msg.group) {
      ctx.setStatus(msg.group === null ? (leads ? S.boInMain : S.boWaiting) : S.boYouAreIn.replace("{n}", () => msg.group + 1));
    }
    render();
    ctx.regroup();
  }

  function closed() {
    current = null;
    clearInterval(ticker);
    ticker = null;
    const news = $("breakout-news");
    if (news) news.hidden = true;
    render();
    ctx.setStatus(S.boClosed);
    ctx.regroup();
  }

  // -- the teacher's dialog: the split ------------------------------------------------------
  function learners() {
    return people.filter((p) => p.role === "learner");
  }

  // The split a teacher last saved for the study group (the server keeps it in the record).
  function saved() {
    return savedSplit && savedSplit.length >= 2 ? savedSplit : null;
  }

  function count() {
    return Number($("breakout-count").value) || 2;
  }

  function method() {
    const chosen = dialog.querySelector("input[name=split]:checked");
    return chosen ? chosen.value : "random";
  }

  // By hand: one choice of group beside each student present (a select: tap, or the arrow keys).
  function showStudents(from) {
    const list = $("breakout-students");
    const hand = method() !== "random";
    list.hidden = !hand;
    if (!hand) return;
    const n = count();
    const placed = new Map();
    (from || []).forEach((g, i) => g.forEach((u) => placed.set(u, Math.min(i, n - 1))));
    const kept = new Map([...list.querySelectorAll("select")].map((s) => [Number(s.dataset.user), Number(s.value)]));
    list.replaceChildren(
      ...learners().map((p, k) => {
        const id = `breakout-student-${p.user_id}`;
        const select = el("select", { id: id });
        select.dataset.user = String(p.user_id);
        for (let i = 0; i < n; i += 1) select.append(el("option", { value: String(i), textContent: groupName(i) }));
        const at = placed.has(p.user_id) ? placed.get(p.user_id) : kept.has(p.user_id) ? kept.get(p.user_id) : k % n;
        select.value = String(Math.min(at, n - 1));
        return el("li", {}, [el("label", { htmlFor: id, textContent: p.name }), select]);
      }),
    );
  }

  function splitByHand() {
    const groups = Array.from({ length: count() }, () => []);
    $("breakout-students").querySelectorAll("select").forEach((s) => groups[Number(s.value)].push(Number(s.dataset.user)));
    return groups;
  }

  function showError(text) {
    const err = $("breakout-error");
    err.textContent = text;
    err.hidden = !text;
  }

  function openDialog() {
    showError("");
    const savedRadio = dialog.querySelector("input[name=split][value=saved]");
    const list = saved();
    savedRadio.disabled = !list;
    if (!list && savedRadio.checked) dialog.querySelector("input[name=split][value=random]").checked = true;
    showStudents(method() === "saved" ? list : null);
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    $("breakout-count").focus();
  }

  function closeDialog() {
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
    $("breakout-start").focus();
  }

  if (isHost && dialog) {
    $("breakout-start").addEventListener("click", openDialog);
    $("breakout-cancel").addEventListener("click", closeDialog);
    dialog.addEventListener("change", (e) => {
      if (e.target.name === "split" || e.target.id === "breakout-count") {
        const list = e.target.value === "saved" ? saved() : null;
        if (list) $("breakout-count").value = String(Math.min(list.length, 10));
        showStudents(list);
      }
    });
    $("breakout-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const fields = {
        seconds: Number($("breakout-minutes").value) * 60,
        late: dialog.querySelector("input[name=late]:checked").value,
      };
      if (method() === "random") {
        if (learners().length < count()) {
          showError(S.boTooFew);
          return;
        }
        fields.count = count();
      } else {
        fields.groups = splitByHand();
        if (fields.groups.some((g) => !g.length)) {
          showError(S.boEmptyGroup);
          return;
        }
      }
      fields.save = $("breakout-save").checked;
      ctx.send("open_breakout", fields);
      closeDialog();
    });
  }

  // While open: more time, a message to all groups, the close (the teacher and a presenter).
  if (leads && $("breakout-lead")) {
    $("breakout-more").addEventListener("click", () => ctx.send("add_time", { seconds: 300 }));
    $("breakout-close").addEventListener("click", () => ctx.send("close_breakout", {}));
    $("breakout-say").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $("breakout-say-text");
      const text = input.value.trim();
      if (!text) return;
      ctx.send("broadcast", { text: text });
      input.value = "";
    });
  }

  return {
    handle(msg) {
      if (msg.type === "breakout") open(msg);
      else if (msg.type === "breakout_closed") closed();
      else return false;
      return true;
    },
    // A teacher's message to every group: in the panel too, where a student looks.
    chat(msg) {
      if (msg.broadcast && current) say(S.boBroadcast.replace("{name}", () => msg.name).replace("{text}", () => msg.text));
    },
    roster(msg) {
      people = msg.participants || [];
      groupOf = new Map(people.map((p) => [p.id, p.group === undefined ? null : p.group]));
      if (dialog && dialog.open && method() !== "random") showStudents(null);
      ctx.regroup();
    },
    // The teacher's roster: a student's group, to move them while the groups are open.
    moveControl(p) {
      if (!isHost || !current || p.role !== "learner") return null;
      const select = el("select", { className: "small breakout-move" });
      select.setAttribute("aria-label", S.boMove.replace("{name}", () => p.name));
      [null, ...current.groups.map((_, i) => i)].forEach((i) => {
        select.append(el("option", { value: i === null ? "" : String(i), textContent: groupName(i) }));
      });
      select.value = p.group === null || p.group === undefined ? "" : String(p.group);
      select.addEventListener("change", () => {
        const group = select.value === "" ? null : Number(select.value);
        ctx.send("move_to_group", { group: group, participant_id: p.id });
      });
      return select;
    },
    // Whether a camera source is out of my group (the server sends it nothing meanwhile).
    hides(source) {
      if (!current) return false;
      const owner = String(source).split("/")[0];
      const theirs = groupOf.has(owner) ? groupOf.get(owner) : null;
      return theirs !== current.group;
    },
    welcome() {
      // A new connection: the server says again (``breakout``) if groups are open. The
      // teacher's button is back (after ``stop``, when the page joined again in place).
      current = null;
      clearInterval(ticker);
      ticker = null;
      render();
    },
    error(msg) {
      if (!ERRORS.includes(msg.code)) return false;
      const text = (ctx.errors && ctx.errors[msg.code]) || msg.message;
      if (dialog && dialog.open) showError(text);
      else ctx.setStatus(text);
      return true;
    },
    stop() {
      current = null;
      clearInterval(ticker);
      ticker = null;
      if (panel) panel.hidden = true;
      const start = $("breakout-start");
      if (start) start.hidden = true;
      const share = $("share");
      if (share && !leads) share.hidden = true;
    },
    state() {
      return current ? { group: current.group, groups: current.groups, remaining: secondsLeft() } : null;
    },
  };
};
