// Joining quickly. The device check runs its parts at once (browser, the network and its media
// path, the camera) while the way into the class is prepared: the join token is fetched and the
// WebSocket opened — but no `join` is sent, which is the person's choice and the register's.
// A student whose own devices passed the check today (the class's day) in this browser goes straight in.
// The page notes when each step happened in window.sabaqJoinTimes (ms since the navigation).
"use strict";

window.SabaqJoin = function (ctx) {
  const cfg = ctx.cfg;
  const S = ctx.strings;
  const PASS_KEY = "sabaq.devicesPassed";
  // bench.join sets this to measure the previous path beside this one: the check's parts one
  // after another, nothing prepared before Join.
  const sequential = Boolean(window.sabaqSequentialJoin);
  const times = (window.sabaqJoinTimes = window.sabaqJoinTimes || {});
  let prepared = null; // { reply: Promise<{ok, body}>, socket: WebSocket|null, url }

  function note(step) {
    if (!(step in times)) times[step] = Math.round(performance.now());
  }

  // -- the pass, remembered in this browser for the day ---------------------------------------
  function today() {
    try {
      // en-CA writes dates as YYYY-MM-DD; the day is the class's (its group's) day.
      return new Intl.DateTimeFormat("en-CA", { timeZone: cfg.zone || undefined }).format(new Date());
    } catch (e) {
      return new Intl.DateTimeFormat("en-CA").format(new Date()); // an unknown zone: the local day
    }
  }

  function remembered() {
    try {
      return JSON.parse(localStorage.getItem(PASS_KEY) || "null");
    } catch (e) {
      return null; // storage refused or spoilt: no pass known
    }
  }

  // The last check's result decides: a check that failed since a pass is not skipped; a pass
  // without a camera does not let someone who publishes skip the camera's check.
  // Only a student goes straight in, and only on their own pass: a teacher's page never starts
  // a class by itself, staff never enter as observers unasked, and on a shared computer one
  // student's pass is not another's.
  function passedToday() {
    const last = remembered();
    return Boolean(
      cfg.role === "learner" &&
        last &&
        last.ok === true &&
        last.user === cfg.userId &&
        last.day === today() &&
        (last.camera || !ctx.publishes),
    );
  }

  function remember(ok, camera) {
    try {
      localStorage.setItem(PASS_KEY, JSON.stringify({ day: today(), ok: ok, camera: camera, user: cfg.userId }));
    } catch (e) {
      // not kept: the check runs again next time
    }
  }

  // -- the check's parts ------------------------------------------------------------------------
  const hasRtc = typeof RTCPeerConnection === "function" && typeof WebSocket === "function";

  // The class page asks only whether sound and video get through (the data channel to the media
  // node opening, no echo: the practice room's five echoes are for a latency figure), the page
  // server and the media path at once; the previous path (bench.join's comparison) asked the
  // one, then the other, five times.
  async function network() {
    const path = cfg.echoUrl && hasRtc;
    try {
      const health = fetch("/healthz", { cache: "no-store" }).then((r) => r.ok);
      if (sequential && !(await health)) return marked("network", false, S.noNetwork);
      // As in the practice room: a real peer connection to the media node, so a network
      // that lets pages through but not sound and video is caught before joining.
      // null: it cannot get through; undefined: not checked now (busy) — no reason to refuse.
      const echo = path ? SabaqCheck.mediaPath(cfg.echoUrl, cfg.csrf, sequential ? 5 : 0) : null;
      if (!(await health)) return marked("network", false, S.noNetwork);
      if (!path) return marked("network", true);
      return marked("network", (await echo) !== null, S.noMediaPath);
    } catch (e) {
      return marked("network", false, S.noNetwork);
    }
  }

  function marked(check, ok, why) {
    ctx.mark(check, ok, why);
    return ok;
  }

  async function devices(stream) {
    if (!ctx.publishes) {
      const canPlay = typeof window.AudioContext === "function" || typeof HTMLMediaElement === "function";
      ctx.mark("sound", canPlay);
      SabaqDevices.fill(); // the speakers, where the browser lets the page choose them
      return canPlay;
    }
    try {
      // In the class already (the check opened again): the camera that is sending is the proof.
      const got = stream || (await SabaqDevices.open(true, true));
      if (!stream) ctx.gotCamera(got);
      ctx.mark("camera", true);
      return true;
    } catch (e) {
      ctx.mark("camera", false, S.noCamera);
      return false;
    }
  }

  // The whole check; its result is remembered for the day. ``stream``: the camera in use.
  async function check(stream) {
    note("checkStart");
    ctx.mark("browser", hasRtc, S.noWebrtc);
    let ok;
    if (sequential) {
      ok = hasRtc && (await network());
      ok = (await devices(stream)) && ok;
    } else {
      const parts = await Promise.all([network(), devices(stream)]);
      ok = hasRtc && parts.every(Boolean);
    }
    note("checkDone");
    remember(ok, ok && ctx.publishes);
    return ok;
  }

  // -- the way in, prepared ---------------------------------------------------------------------
  async function fetchToken() {
    const r = await fetch(ctx.tokenUrl, {
      method: "POST",
      headers: { "X-CSRF-Token": cfg.csrf, Accept: "application/json" },
    });
    return { ok: r.ok, body: await r.json() };
  }

  function socketUrl(mediaUrl) {
    const url = new URL(`${mediaUrl}/classes/${cfg.classId}/ws`, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url;
  }

  // The token is fetched and the WebSocket opened now; `join` goes on it only when the person
  // joins. The server closes a socket that says nothing for a while (join_timeout): then the
  // preparation is dropped and joining starts afresh.
  function prepare() {
    if (sequential || !hasRtc || prepared) return;
    const mine = (prepared = { reply: fetchToken(), socket: null, settled: false });
    mine.reply.then(
      (reply) => {
        mine.settled = true;
        note("tokenFetched");
        const body = reply.body;
        if (prepared !== mine || !reply.ok || !body.token || body.state === "waiting") return;
        const socket = (mine.socket = new WebSocket(socketUrl(body.media_url)));
        socket.addEventListener("open", () => note("wsOpen"));
        socket.addEventListener("close", () => {
          if (prepared === mine) prepared = null;
        });
      },
      () => {
        if (prepared === mine) prepared = null;
      },
    );
  }

  // What was prepared, once: the token's reply (a promise) and the socket if it is still usable.
  function take() {
    const mine = prepared;
    prepared = null;
    if (!mine) return null;
    const socket = mine.socket;
    const usable = socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING);
    if (socket && !usable) return null; // the server let it go: the token may be old too
    // A reply that gave no token (a guest still in the lobby, a refusal) is asked again now.
    if (!socket && mine.settled) return null;
    return { reply: mine.reply, socket: usable ? socket : null };
  }

  return {
    check: check,
    prepare: prepare,
    take: take,
    fetchToken: fetchToken,
    socketUrl: socketUrl,
    passedToday: passedToday,
    note: note,
  };
};
