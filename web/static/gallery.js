// The seminar on the class page: a gallery of cameras (up to 25 a page), the speaker view (the
// active speaker on the stage over a filmstrip) and the screen-share view (the screen with the
// speaker); the teacher's lecture/seminar switch; a learner's own camera and microphone in a
// seminar. room.js hands every camera source to it (SabaqGallery.create); it tells the server
// which cameras it shows (`view`) and sets its own camera's encoding as the server asks
// (`quality`).
"use strict";

window.SabaqGallery = (function () {
  const PAGE_SIZE = 25;
  // What the server asks of a publisher's camera (protocol-20): a small picture (it is only in
  // galleries of more than 9 tiles: 24 of them and a stage fit in 2.5 Mbit/s), a thumbnail, or
  // the stage. bench/seminar sends the same.
  const QUALITY = {
    small: { width: 240, maxBitrate: 48000, maxFramerate: 15 },
    thumbnail: { width: 320, maxBitrate: 200000, maxFramerate: 15 },
    full: { width: 640, maxBitrate: 900000, maxFramerate: 30 },
  };

  // Someone heard but not seen (sound only, or the camera turned off): their initials in a
  // circle in place of a dark picture; their name is the tile's caption. The circle's colour
  // follows the name, so that the same person looks the same on every page.
  function initials(name) {
    const words = String(name || "").trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "?";
    const first = (w) => Array.from(w)[0];
    const letters = words.length > 1 ? first(words[0]) + first(words[words.length - 1]) : first(words[0]);
    return letters.toLocaleUpperCase();
  }

  function avatar(name, el) {
    const box = el || document.createElement("div");
    box.classList.add("avatar");
    box.setAttribute("aria-hidden", "true"); // the caption says the name
    let hue = 0;
    for (const ch of String(name || "")) hue = (hue * 31 + ch.codePointAt(0)) % 360;
    const circle = document.createElement("span");
    circle.className = "initials";
    circle.textContent = initials(name);
    circle.style.setProperty("--hue", String(hue));
    box.replaceChildren(circle);
    return box;
  }

  // ctx: { S, room, send(type, fields), status(text), publication() → RTCPeerConnection | null,
  //        floor() → the floor I hold: "audio", "audio_video" or null,
  //        publishOwn(stream, onConnected), unpublishOwn(),
  //        hidden(source) → bool: a camera out of this viewer's breakout group }
  function create(ctx) {
    const $ = (id) => document.getElementById(id);
    const S = ctx.S;
    const room = ctx.room;
    const gallery = $("gallery");
    const spotlight = $("spotlight");
    const spotlightName = $("spotlight-name");
    const spotlightAvatar = $("spotlight-avatar");
    const pager = $("pager");
    const switcher = $("view-switch");
    const modeBtn = $("mode");
    const cameraBtn = $("camera-on");
    const tiles = new Map(); // source id → { el, video, stream, name }
    let order = []; // sources in the order they came (the active speaker is moved forward)
    let mode = "lecture";
    let view = "gallery"; // the viewer's choice; "screen" while a screen is shared
    let chosen = "gallery"; // the choice to go back to when the screen goes
    let speaker = null;
    let sharing = false;
    let page = 0;
    let lastSent = "";
    let ownStream = null;
    let level = null;

    // -- tiles --------------------------------------------------------------------------------
    function add(source, name, stream) {
      remove(source);
      const el = document.createElement("figure");
      el.className = "tile";
      el.dataset.source = source;
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.muted = true; // its sound plays through room.js's <audio>
      video.srcObject = stream;
      const caption = document.createElement("figcaption");
      caption.textContent = name || "";
      el.append(video, avatar(name), caption);
      gallery.appendChild(el);
      tiles.set(source, { el: el, video: video, stream: stream, name: name, seen: true });
      order.push(source);
      render();
    }

    function remove(source) {
      const tile = tiles.get(source);
      if (!tile) return;
      tile.el.remove();
      tiles.delete(source);
      order = order.filter((s) => s !== source);
      render();
    }

    // The active speaker comes to the page shown: it takes the place of the page's last tile.
    function bringForward(source) {
      const at = order.indexOf(source);
      const first = page * PAGE_SIZE;
      if (at < 0 || (at >= first && at < first + PAGE_SIZE)) return;
      const last = Math.min(first + PAGE_SIZE, order.length) - 1;
      [order[at], order[last]] = [order[last], order[at]];
    }

    // Who turns their own camera and microphone on. In a seminar a student or guest does it
    // themselves, with the floor or without it: a floor for sound only (given in a lecture, or
    // the next hand's) does not take that away. In a lecture only the floor lets a student speak,
    // and the teacher chose whether with the camera: no button then. Not while already sending
    // a camera (mine, or the floor's with camera).
    function mayTurnOn() {
      if (mode !== "seminar" || ownStream) return false;
      return ctx.floor() !== "audio_video";
    }

    // -- what is shown ------------------------------------------------------------------------
    function stageSource(listed) {
      if (speaker && tiles.has(speaker) && listed.includes(speaker)) return speaker;
      return listed.length ? listed[0] : null;
    }

    // Columns and tile width that fill the gallery's box with `n` 4:3 tiles.
    function fitGrid(n) {
      const gap = 6;
      const w = gallery.clientWidth;
      const h = gallery.clientHeight;
      let best = { cols: 1, width: 0 };
      for (let cols = 1; cols <= Math.max(1, n); cols += 1) {
        const rows = Math.ceil(Math.max(1, n) / cols);
        const width = Math.min((w - gap * (cols - 1)) / cols, ((h - gap * (rows - 1)) / rows) * (4 / 3));
        if (width > best.width) best = { cols: cols, width: width };
      }
      gallery.style.setProperty("--cols", String(best.cols));
      gallery.style.setProperty("--tile-w", `${Math.max(40, Math.floor(best.width))}px`);
    }

    // How many filmstrip tiles fit in the strip's width.
    function stripRoom() {
      const probe = gallery.querySelector(".tile");
      const tileW = (probe && parseFloat(getComputedStyle(probe).width)) || 144;
      return Math.max(1, Math.floor((gallery.clientWidth + 6) / (tileW + 6)));
    }

    function showPager(pages) {
      pager.hidden = pages < 2;
      if (page >= pages) page = Math.max(0, pages - 1);
      $("page-of").textContent = S.pageOf.replace("{n}", () => page + 1).replace("{total}", () => pages);
      $("page-prev").disabled = page === 0;
      $("page-next").disabled = page >= pages - 1;
    }

    function render() {
      const seminar = mode === "seminar";
      room.classList.toggle("seminar", seminar);
      gallery.hidden = !seminar;
      switcher.hidden = !seminar;
      if (cameraBtn) cameraBtn.hidden = !mayTurnOn();
      if (!seminar) {
        pager.hidden = true;
        spotlight.hidden = true;
        spotlightName.hidden = true;
        spotlightAvatar.hidden = true;
        delete room.dataset.view;
        return;
      }
      const shown = sharing ? view : view === "screen" ? chosen : view;
      room.dataset.view = shown;
      switcher.querySelectorAll("button").forEach((b) => {
        b.setAttribute("aria-pressed", String(b.dataset.view === shown));
        if (b.dataset.view === "screen") b.hidden = !sharing;
      });
      let visible = [];
      let stage = null;
      // Cameras out of this viewer's breakout group are not shown (nothing of them is sent).
      const listed = order.filter((source) => !(ctx.hidden && ctx.hidden(source)));
      if (shown === "gallery") {
        const pages = Math.max(1, Math.ceil(listed.length / PAGE_SIZE));
        showPager(pages);
        visible = listed.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
        fitGrid(visible.length);
      } else if (shown === "speaker") {
        stage = stageSource(listed);
        const rest = listed.filter((s) => s !== stage);
        const room_ = stripRoom();
        showPager(Math.max(1, Math.ceil(rest.length / room_)));
        visible = rest.slice(page * room_, (page + 1) * room_);
      } else {
        pager.hidden = true;
        const s = stageSource(listed);
        visible = s ? [s] : [];
      }
      for (const [source, tile] of tiles) {
        const on = visible.includes(source);
        tile.el.dataset.shown = on ? "yes" : "no";
        tile.el.classList.toggle("speaking", source === speaker);
        tile.el.style.order = String(order.indexOf(source));
        if (on && tile.video.paused) tile.video.play().catch(() => {});
      }
      const staged = stage ? tiles.get(stage) : null;
      spotlight.hidden = !staged || !staged.seen;
      spotlightName.hidden = !staged;
      spotlightAvatar.hidden = !staged || staged.seen;
      if (staged && !staged.seen) avatar(staged.name, spotlightAvatar);
      spotlightAvatar.classList.toggle("speaking", Boolean(staged) && stage === speaker);
      if (staged && spotlight.srcObject !== staged.stream) {
        spotlight.srcObject = staged.stream;
        spotlight.play().catch(() => {});
      }
      if (staged) spotlightName.textContent = staged.name || "";
      tell(visible, stage);
    }

    // The server sends camera video only of what this page shows. Changes come in bursts (tiles
    // arriving, a resize): at most one `view` each VIEW_GAP ms, always the latest, so the
    // server's rate limit never drops the one that matters.
    const VIEW_GAP = 300;
    let pending = null;
    let lastAt = 0;

    function tell(visible, stage) {
      pending = { tiles: visible.slice(0, 50), stage: stage };
      if (flushTimer) return;
      const wait = Math.max(0, lastAt + VIEW_GAP - Date.now());
      flushTimer = setTimeout(flush, wait);
    }

    let flushTimer = null;
    function flush() {
      flushTimer = null;
      if (!pending) return;
      const text = JSON.stringify(pending);
      if (text !== lastSent && ctx.send("view", pending)) {
        lastSent = text;
        lastAt = Date.now();
      }
      pending = null;
    }

    function setView(v) {
      view = v;
      if (v !== "screen") chosen = v;
      page = 0;
      render();
    }

    // -- the mode, the speaker, the quality -----------------------------------------------------
    function setMode(m) {
      const was = mode;
      mode = m === "seminar" ? "seminar" : "lecture";
      if (modeBtn) {
        modeBtn.dataset.mode = mode;
        modeBtn.textContent = mode === "seminar" ? S.toLecture : S.toSeminar;
      }
      // Back to a lecture: the server stopped a learner's publication unless the floor allows
      // a camera (a floor for sound only is given again: the page then sends sound only).
      if (was !== mode && mode === "lecture" && ownStream && ctx.floor() !== "audio_video") stopOwn();
      if (was !== mode) lastSent = "";
      render();
    }

    function setSpeaker(source) {
      speaker = source || null;
      if (speaker && mode === "seminar" && room.dataset.view === "gallery") bringForward(speaker);
      render();
    }

    async function applyQuality(want) {
      level = want;
      const conn = ctx.publication();
      const q = QUALITY[want];
      if (!conn || !q) return;
      for (const sender of conn.getSenders()) {
        if (!sender.track || sender.track.kind !== "video") continue;
        const width = sender.track.getSettings().width || 640;
        const params = sender.getParameters();
        if (!params.encodings || !params.encodings.length) params.encodings = [{}];
        for (const e of params.encodings) {
          e.scaleResolutionDownBy = Math.max(1, width / q.width);
          e.maxBitrate = q.maxBitrate;
          e.maxFramerate = q.maxFramerate;
        }
        try {
          await sender.setParameters(params);
        } catch (e) {
          // A sender being replaced: the next `quality` or publication sets it again.
        }
      }
    }

    // -- a learner's own camera and microphone in a seminar ----------------------------------
    // Once on, they stay on: turning the camera or the microphone off again is the page's
    // mute and camera buttons' (media_state), which keep the publication.
    async function startOwn() {
      try {
        // The camera and microphone chosen in the device check (or the Devices dialog).
        ownStream = await SabaqDevices.open(true, true);
      } catch (e) {
        ctx.status(S.noCamera);
        return;
      }
      render();
      await ctx.publishOwn(ownStream, () => ctx.status(S.youAreSeen));
    }

    // The server stopped this learner's publication (the class became a lecture, or the class
    // ended): the page stops sending too.
    function stopOwn() {
      if (!ownStream) return;
      ownStream.getTracks().forEach((t) => t.stop());
      ownStream = null;
      ctx.unpublishOwn();
      render();
    }

    // -- wiring -------------------------------------------------------------------------------
    switcher.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
    $("page-prev").addEventListener("click", () => {
      page = Math.max(0, page - 1);
      render();
    });
    $("page-next").addEventListener("click", () => {
      page += 1;
      render();
    });
    if (modeBtn) {
      modeBtn.addEventListener("click", () =>
        ctx.send("set_mode", { mode: mode === "seminar" ? "lecture" : "seminar" }),
      );
    }
    if (cameraBtn) cameraBtn.addEventListener("click", () => (ownStream ? undefined : startOwn()));
    let refit = null;
    window.addEventListener("resize", () => {
      clearTimeout(refit);
      refit = setTimeout(render, 100);
    });
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => {
        if (mode === "seminar") render();
      }).observe(gallery);
    }

    // Whether a tile's picture is there to see: not for sound only, nor a camera turned off.
    function seen(source, on) {
      const tile = tiles.get(source);
      if (!tile || tile.seen === on) return;
      tile.seen = on;
      tile.el.classList.toggle("no-video", !on);
      render();
    }

    return {
      add: add,
      remove: remove,
      seen: seen,
      refresh: render, // who is shown changed (breakout groups)
      screen(on) {
        if (on && !sharing) view = "screen";
        sharing = Boolean(on);
        if (!sharing && view === "screen") view = chosen;
        render();
      },
      welcome(msg) {
        lastSent = ""; // a new connection: the server knows nothing of this page's view yet
        speaker = msg.active_speaker || null;
        setMode(msg.mode);
        if (ownStream && mode === "seminar") ctx.publishOwn(ownStream, () => ctx.status(S.youAreSeen));
      },
      handle(msg) {
        if (msg.type === "mode") {
          setMode(msg.mode);
          ctx.status(mode === "seminar" ? S.seminarNow : S.lectureNow);
        } else if (msg.type === "active_speaker") setSpeaker(msg.source);
        else if (msg.type === "quality") applyQuality(msg.level);
      },
      published() {
        if (level) applyQuality(level);
      },
      stop: stopOwn,
      publishing: () => Boolean(ownStream),
      state() {
        const conn = ctx.publication();
        return {
          mode: mode, view: room.dataset.view || null, speaker: speaker, page: page, sent: lastSent,
          publishing: Boolean(ownStream), connection: conn ? conn.connectionState : null, quality: level,
        };
      },
    };
  }

  return { create: create, avatar: avatar };
})();
