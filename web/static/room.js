// The live class page: device check, signaling over one WebSocket, one peer connection.
"use strict";

(function () {
  const cfg = JSON.parse(document.getElementById("room-config").textContent);
  const S = cfg.strings;
  const $ = (id) => document.getElementById(id);
  const room = $("room");
  const statusEl = $("status");
  const video = $("video");
  const isHost = cfg.role === "host";
  // A guest lecturer who presents publishes camera, microphone and screen like the teacher.
  const publishes = isHost || cfg.role === "presenter";
  const tokenUrl = cfg.joinTokenUrl || `/classes/${cfg.classId}/join-token`;
  const FINAL_CLOSES = new Set([4000, 4001, 4003, 4400, 4401]);
  const CLOSED_NOT_ENDED = new Set(["class_cancelled", "not_online"]); // closed 4000 too
  // Out of the class, the stage gone: left, refused or removed ("closed"), opened in another
  // tab ("elsewhere"), or a class cancelled or held in person since the page was made.
  const OUT_STATES = new Set(["closed", "left", "elsewhere", "cancelled", "in_person"]);

  let ws = null;
  let localStream = null;
  let finished = false;
  let retries = 0;
  let busy = null; // why the server took nobody just now (its attendance backlog), said until retried
  let myId = null;
  let wasRecorded = false; // the class was recorded while this page was in it
  // My microphone and camera (controls.js): off and on, the teacher's mute, self-view, devices.
  const controls = SabaqControls({
    strings: S,
    isHost: isHost,
    myId: () => myId,
    send: (type, fields) => send(type, fields),
    setStatus: (text) => setStatus(text),
    button: (label, onClick) => button(label, onClick),
    streams: () => ({ floor: micStream, local: localStream }),
    inClass: () => !$("stage").hidden,
    cameraOff: (off, text) => showCameraOff(off, text),
    mediaChanged: () => {
      if (statusEl.dataset.live === "me") youAreLive();
    },
  });
  let myFloor = null; // the floor I hold: "audio", "audio_video" or null
  // Quick questions (questions.js): asked, answered, their results.
  const questions = SabaqQuestions({
    strings: S,
    errors: cfg.errors,
    role: cfg.role,
    send: (type, fields) => send(type, fields),
    setStatus: (text) => setStatus(text),
  });
  // Breakout groups (breakout.js): the teacher's split and visits, a student's group.
  const breakout = SabaqBreakout({
    strings: S,
    errors: cfg.errors,
    role: cfg.role,
    savedSplit: cfg.savedSplit,
    send: (type, fields) => send(type, fields),
    setStatus: (text) => setStatus(text),
    regroup: () => gallery.refresh(),
    stopScreen: () => stopScreen(), // a student's, shared in a group
  });

  function setStatus(text, state) {
    statusEl.textContent = text;
    delete statusEl.dataset.live;
    if (state) room.dataset.state = state;
  }

  // News that passes (the floor taken back): said for a few seconds, then the usual line of
  // one watching the class again, unless something else was said meanwhile.
  const PASSING_MS = 6000;
  let liveLine = null; // "Live · <teacher>", once the teacher's picture came

  function passingStatus(text) {
    setStatus(text, "live");
    setTimeout(() => {
      if (finished || statusEl.textContent !== text) return;
      setStatus(liveLine || S.live, "live");
    }, PASSING_MS);
  }

  // I am live (the teacher, a presenting guest): what students get of me, truly.
  function youAreLive() {
    const mic = controls.micOn();
    const cam = controls.camOn() || !(localStream && localStream.getVideoTracks().length);
    setStatus(mic && cam ? S.youAreLive : mic ? S.youAreLiveCamOff : cam ? S.youAreLiveMicOff : S.youAreLiveAllOff, "live");
    statusEl.dataset.live = "me";
  }

  // The main picture's camera is off (the teacher's, for students; my own, for the teacher):
  // the picture is hidden, not frozen on its last frame, and a note says so.
  function showCameraOff(off, text) {
    const note = $("camera-off");
    room.classList.toggle("main-camera-off", off);
    note.textContent = off ? text : "";
    note.hidden = !off;
  }

  // -- how long until the class counts as held (the teacher's page) -------------------------
  // The server says how long the teacher had been live when the page was made; the page adds
  // the time it is live itself. A class ended before SABAQ_HELD_MIN_LIVE_SECONDS is missed.
  const countdown = $("held-countdown");
  let liveBefore = (Number(cfg.liveSoFar) || 0) * 1000;
  let liveSince = null;
  let ticker = null;

  function heldRemaining() {
    const live = liveBefore + (liveSince === null ? 0 : Date.now() - liveSince);
    return Math.max(0, Math.ceil((Number(cfg.heldMinLive) || 0) - live / 1000));
  }

  function clock(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return `${m}:${String(s).padStart(2, "0")}`;
  }

  function showCountdown() {
    if (!countdown) return;
    const left = heldRemaining();
    const text = left > 0 ? S.heldIn.replace("{time}", () => clock(left)) : S.heldNow;
    if (countdown.textContent !== text) countdown.textContent = text;
    countdown.dataset.remaining = String(left);
    countdown.hidden = false;
  }

  function liveClock(on) {
    if (!countdown) return;
    if (on && liveSince === null) {
      liveSince = Date.now();
      ticker = setInterval(showCountdown, 1000);
    } else if (!on && liveSince !== null) {
      liveBefore += Date.now() - liveSince;
      liveSince = null;
      clearInterval(ticker);
    }
    showCountdown();
  }

  function mark(check, ok, why) {
    const li = document.querySelector(`[data-check="${check}"]`);
    if (!li) return;
    li.dataset.ok = ok ? "yes" : "no";
    let note = li.querySelector(".why");
    if (!note) {
      note = document.createElement("span");
      note.className = "why";
      li.appendChild(note);
    }
    note.textContent = ok ? ` — ${S.ok}` : ` — ${S.failed}. ${why || ""}`;
  }

  // -- device check (join.js): its parts at once, the way in prepared meanwhile -------------
  const quick = SabaqJoin({
    cfg: cfg,
    strings: S,
    publishes: publishes,
    tokenUrl: tokenUrl,
    mark: mark,
    gotCamera: (stream) => {
      localStream = stream;
      video.srcObject = stream;
      SabaqDevices.preview(stream);
    },
  });

  // -- signaling ------------------------------------------------------------------------------
  function send(type, fields) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(Object.assign({ v: 1, type: type }, fields || {})));
      return true;
    }
    return false;
  }

  function gathered(conn) {
    if (conn.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (conn.iceGatheringState === "complete") {
          conn.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      conn.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000);
    });
  }

  // My own publication (the teacher's camera; a student's microphone while given the floor),
  // and what I watch: one peer connection per source.
  let pubPc = null;
  const views = new Map(); // source id → { pc, elements }
  const gallery = window.SabaqGallery.create({
    S: S,
    room: room,
    send: send,
    status: (text) => setStatus(text, "live"),
    publication: () => pubPc,
    floor: () => myFloor,
    publishOwn: (stream, onConnected) => {
      // My camera and microphone, turned on in a seminar, take the place of a floor's sound.
      if (micStream && micStream !== stream) micStream.getTracks().forEach((t) => t.stop());
      micStream = null;
      return publish(stream, onConnected);
    },
    unpublishOwn: closePublication,
    hidden: (source) => breakout.hides(source), // out of my breakout group
  });

  function closePublication() {
    if (pubPc) pubPc.close();
    pubPc = null;
    controls.unpublished();
  }

  function closeView(source) {
    const view = views.get(source);
    if (!view) return;
    view.pc.close();
    view.elements.forEach((el) => el.remove());
    gallery.remove(source);
    if (view.screen) showScreen(null);
    views.delete(source);
    if (window.sabaqRoom.pc === view.pc) window.sabaqRoom.pc = null;
  }

  function closeAllMedia() {
    closePublication();
    closeScreenPublication();
    [...views.keys()].forEach(closeView);
  }

  // A peer connection that fails (ICE or DTLS) ends this session, and the page reconnects;
  // the status says "live" only once media can actually flow.
  function watch(conn, isCurrent, onConnected) {
    conn.addEventListener("connectionstatechange", () => {
      if (!isCurrent()) return;
      if (conn.connectionState === "connected") onConnected();
      else if (conn.connectionState === "failed" && ws) ws.close(4100);
    });
  }

  async function publish(stream, onConnected) {
    closePublication();
    const conn = (pubPc = new RTCPeerConnection({ iceServers: cfg.iceServers }));
    if (isHost) window.sabaqRoom.pc = conn;
    watch(conn, () => conn === pubPc, onConnected);
    const senders = {};
    for (const track of stream.getTracks()) {
      senders[track.kind] = conn.addTransceiver(track, { direction: "sendonly", streams: [stream] }).sender;
    }
    controls.published(stream, senders);
    await conn.setLocalDescription(await conn.createOffer());
    await gathered(conn);
    if (conn === pubPc) send("publish", { sdp: conn.localDescription.sdp, tracks: labelsOf(stream) });
    gallery.published();
  }

  function labelsOf(stream) {
    return stream.getTracks().map((t) => (t.kind === "audio" ? "microphone" : "camera"));
  }

  // -- screen share (the teacher): a publication of its own, on its own peer connection ------
  let screenPc = null;
  let screenStream = null;
  const screenVideo = $("screen");

  function showScreen(stream) {
    screenVideo.srcObject = stream;
    screenVideo.hidden = !stream;
    room.classList.toggle("sharing", Boolean(stream));
    gallery.screen(Boolean(stream));
    if (stream) screenVideo.play().catch(() => {});
  }

  function closeScreenPublication() {
    if (screenPc) screenPc.close();
    screenPc = null;
  }

  async function publishScreen() {
    closeScreenPublication();
    const conn = (screenPc = new RTCPeerConnection({ iceServers: cfg.iceServers }));
    watch(conn, () => conn === screenPc, () => setStatus(S.youAreSharing, "live"));
    const track = screenStream.getVideoTracks()[0];
    conn.addTransceiver(track, { direction: "sendonly", streams: [screenStream] });
    await conn.setLocalDescription(await conn.createOffer());
    await gathered(conn);
    if (conn === screenPc) send("publish", { sdp: conn.localDescription.sdp, tracks: ["screen"] });
  }

  async function startScreen() {
    try {
      screenStream = await navigator.mediaDevices.getDisplayMedia({
        video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { max: 15 } },
      });
    } catch (e) {
      setStatus(S.noScreen, "live");
      return;
    }
    screenStream.getVideoTracks()[0].addEventListener("ended", stopScreen);
    showScreen(screenStream);
    $("share").textContent = S.stopSharing;
    $("share").setAttribute("aria-pressed", "true");
    await publishScreen();
  }

  function stopScreen() {
    if (!screenStream) return;
    screenStream.getTracks().forEach((t) => t.stop());
    screenStream = null;
    closeScreenPublication();
    send("unpublish", { publication: "screen" });
    showScreen(null);
    $("share").textContent = S.shareScreen;
    $("share").setAttribute("aria-pressed", "false");
    youAreLive();
  }

  async function onOffer(msg) {
    closeView(msg.source);
    const conn = new RTCPeerConnection({ iceServers: cfg.iceServers });
    const isScreen = (msg.tracks || [])[0] === "screen";
    const fromTeacher = msg.source_role === "host" && !isScreen;
    if (fromTeacher) quick.note("teacherOffer");
    const view = { pc: conn, elements: [], screen: isScreen };
    views.set(msg.source, view);
    const stream = new MediaStream();
    if (isScreen) {
      conn.ontrack = (ev) => showScreen(new MediaStream([ev.track]));
    } else if (fromTeacher) {
      window.sabaqRoom.pc = conn;
    } else {
      // A student with the floor: their sound (and picture, if allowed) beside the teacher's.
      const box = document.createElement("figure");
      box.className = "speaker";
      // "Speaking" and the whole name (wrapped, never cut), said as one by a screen reader.
      const caption = document.createElement("figcaption");
      const what = document.createElement("span");
      what.className = "speaking";
      what.textContent = S.speaking;
      const who = document.createElement("span");
      who.className = "name";
      who.textContent = msg.publisher || "";
      caption.append(what, " ", who);
      box.title = `${S.speaking}: ${msg.publisher || ""}`;
      box.setAttribute("aria-label", box.title);
      const media = document.createElement("video");
      media.autoplay = true;
      media.playsInline = true;
      media.srcObject = stream;
      box.append(media, SabaqGallery.avatar(msg.publisher), caption);
      $("speakers").appendChild(box);
      view.elements.push(box);
    }
    // Every camera is also a tile of the seminar's gallery (shown in seminar mode only).
    if (!isScreen) gallery.add(msg.source, msg.publisher, stream);
    // Sound only (a floor without camera, a microphone without camera): no picture will come.
    view.soundOnly = !isScreen && !/^m=video /m.test(msg.sdp || "");
    showPicture(msg.source);
    // Sound plays through an element of its own: a <video> whose camera track sends nothing
    // (low bandwidth holds it) never starts playing in Chromium, and would keep its sound mute.
    const sound = document.createElement("audio");
    sound.autoplay = true;
    SabaqDevices.applySink(sound);
    room.appendChild(sound);
    view.elements.push(sound);
    if (!isScreen) conn.ontrack = (ev) => {
      if (ev.track.kind === "audio") {
        sound.srcObject = new MediaStream([ev.track]);
        sound.play().catch(() => {});
        return;
      }
      stream.addTrack(ev.track);
      const el = fromTeacher ? video : view.elements[0].querySelector("video");
      el.muted = true; // its sound is the <audio> element's
      el.srcObject = stream;
      el.play().catch(() => {});
    };
    const current = () => views.get(msg.source) === view;
    watch(conn, current, () => {
      if (!fromTeacher) return;
      quick.note("teacherConnected");
      $("waiting").hidden = true;
      liveLine = `${S.live} · ${msg.publisher || ""}`;
      setStatus(liveLine, "live");
    });
    await conn.setRemoteDescription({ type: "offer", sdp: msg.sdp });
    await conn.setLocalDescription(await conn.createAnswer());
    await gathered(conn);
    if (!current()) return; // a newer offer replaced this one meanwhile
    send("answer", { sdp: conn.localDescription.sdp, offer_id: msg.offer_id });
    if (fromTeacher) quick.note("answerSent");
    if (fromTeacher) setStatus(S.connecting, "connecting");
  }

  // A speaker's box and gallery tile show the picture, or, for one heard but not seen (sound
  // only, the camera turned off: the roster says so, or low bandwidth: this viewer is sent no
  // camera video), their initials in a circle.
  const camerasOff = new Set();

  function showPicture(source) {
    const view = views.get(source);
    if (!view || view.screen) return;
    const seen = !view.soundOnly && !camerasOff.has(source) && !lowBandwidth;
    const box = view.elements.find((el) => el.classList && el.classList.contains("speaker"));
    if (box) box.classList.toggle("no-video", !seen);
    gallery.seen(source, seen);
  }

  function followCameras(participants) {
    camerasOff.clear();
    for (const p of participants) if (p.publishing && p.camera === false) camerasOff.add(p.id);
    for (const source of views.keys()) showPicture(source);
  }

  // -- low bandwidth (a viewer): sound and screen only ----------------------------------------
  // The server stops sending camera video; the choice is kept in this browser for the next join.
  const LOW_BANDWIDTH_KEY = "sabaq.lowBandwidth";
  const lowBandwidthBtn = $("low-bandwidth");
  let lowBandwidth = false;
  if (lowBandwidthBtn) {
    try {
      lowBandwidth = localStorage.getItem(LOW_BANDWIDTH_KEY) === "1";
    } catch (e) {
      lowBandwidth = false; // storage refused (a private window): off
    }
  }

  function showLowBandwidth() {
    if (!lowBandwidthBtn) return;
    lowBandwidthBtn.setAttribute("aria-pressed", String(lowBandwidth));
    room.classList.toggle("low-bandwidth", lowBandwidth);
    $("low-bandwidth-note").hidden = !lowBandwidth;
    for (const source of views.keys()) showPicture(source);
  }

  function setLowBandwidth(on) {
    lowBandwidth = on;
    try {
      localStorage.setItem(LOW_BANDWIDTH_KEY, on ? "1" : "0");
    } catch (e) {
      // not kept for the next join, still in effect now
    }
    showLowBandwidth();
    send("low_bandwidth", { on: on }); // while disconnected, the next welcome sends it
  }

  // -- the floor ------------------------------------------------------------------------------
  let handRaised = false;
  let micStream = null;

  async function takeFloor(camera) {
    try {
      micStream = await SabaqDevices.open(camera, true);
    } catch (e) {
      setStatus(S.noCamera, "live");
      return;
    }
    await publish(micStream, () => setStatus(S.youHaveTheFloor, "live"));
  }

  function leaveFloor() {
    closePublication();
    if (micStream) micStream.getTracks().forEach((t) => t.stop());
    micStream = null;
    controls.refresh();
  }

  function button(label, onClick, className) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className || "link";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  // -- the raised hands' queue --------------------------------------------------------------
  // The server orders it (first raised first); the teacher's page shows each hand's number, a
  // count in the page's title and a short chime when a hand is raised (made with WebAudio; the
  // audio context is made on the Join click, as browsers allow sound only after a gesture).
  const baseTitle = document.title;
  let audio = null;
  let handsSeen = new Set();
  window.sabaqChimes = 0;

  function chime() {
    window.sabaqChimes += 1;
    if (!audio) return;
    try {
      if (audio.state === "suspended") audio.resume().catch(() => {});
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (e) {
      // no sound here: the number in the title still says it
    }
  }

  function showHands(hands) {
    if (!isHost) return;
    document.title = hands.length ? `(${hands.length}) ${baseTitle}` : baseTitle;
    if (hands.some((id) => !handsSeen.has(id))) chime();
    handsSeen = new Set(hands);
    $("next-hand").disabled = !hands.length;
  }

  // The floor's buttons are a lecture's: in a seminar students speak and show themselves
  // without it (the teacher mutes, or takes back a floor given before the switch).
  let seminarNow = false;
  let lastRoster = null;

  function renderRoster(msg) {
    lastRoster = msg;
    const list = $("roster");
    list.replaceChildren();
    showHands(msg.hands || []);
    for (const p of msg.participants) {
      const li = document.createElement("li");
      if (isHost && p.hand_position) {
        const no = document.createElement("span");
        no.className = "queue-no";
        no.textContent = String(p.hand_position);
        no.title = S.queueNumber.replace("{n}", () => p.hand_position);
        no.setAttribute("aria-label", no.title);
        li.appendChild(no);
      }
      li.appendChild(document.createTextNode(p.name));
      const role = document.createElement("span");
      role.className = "role";
      const notes = [S[p.role] || p.role];
      if (p.id === myId) notes.push(S.you);
      if (p.hand_raised) notes.push(S.handRaised);
      if (p.floor) notes.push(S.hasFloor);
      if (p.group !== null && p.group !== undefined) notes.push(S.boGroup.replace("{n}", () => p.group + 1));
      role.textContent = ` (${notes.join(", ")})`;
      li.appendChild(role);
      const off = controls.rosterNotes(p);
      if (off.length) {
        const muted = document.createElement("span");
        muted.className = "muted-note";
        muted.textContent = ` ${off.join(", ")}`;
        li.appendChild(muted);
        li.classList.add("muted");
      }
      if (p.hand_raised) li.classList.add("hand");
      if (isHost && p.id !== myId) {
        const actions = document.createElement("span");
        actions.className = "actions-inline";
        if (p.role === "learner" && !p.floor && !seminarNow) {
          actions.append(
            button(S.giveFloor, () => send("grant_floor", { participant_id: p.id, camera: false })),
            button(S.giveFloorCamera, () => send("grant_floor", { participant_id: p.id, camera: true })),
          );
        }
        if (p.floor) {
          actions.append(button(S.takeFloor, () => send("revoke_floor", { participant_id: p.id })));
        }
        actions.append(...controls.rosterActions(p));
        const move = breakout.moveControl(p); // while breakout groups are open
        if (move) actions.append(move);
        li.appendChild(actions);
        // Removing is kept apart from the floor's buttons and asks first: a slip must not do it.
        const remove = button(S.remove, () => {
          if (window.confirm(S.removeConfirm.replace("{name}", () => p.name))) {
            send("remove", { participant_id: p.id });
            setTimeout(showRemoved, 1000);
          }
        }, "link remove");
        remove.setAttribute("aria-label", S.removeWho.replace("{name}", () => p.name));
        li.appendChild(remove);
      }
      if (p.id === myId && !isHost) {
        if ((p.floor || null) !== myFloor) {
          myFloor = p.floor || null;
          gallery.refresh(); // whether I may turn my camera on follows the floor
        }
        handRaised = p.hand_raised;
        const hand = $("hand");
        if (hand) {
          hand.textContent = handRaised ? S.lowerHand : S.raiseHand;
          hand.setAttribute("aria-pressed", String(handRaised));
          hand.hidden = Boolean(p.floor);
          const place = $("hand-place");
          place.textContent = p.hand_position ? S.handPlace.replace("{n}", () => p.hand_position) : "";
          place.hidden = !p.hand_position;
        }
      }
      list.appendChild(li);
    }
    $("count").textContent = String(msg.participants.length);
    followCameras(msg.participants);
    if (!isHost) {
      const teacher = msg.participants.find((p) => p.role === "host");
      showCameraOff(Boolean(msg.publisher && teacher && teacher.publishing && teacher.camera === false), S.teacherCamOff);
    }
    // Everyone sees that the class is being recorded.
    $("rec").hidden = !msg.recording;
    wasRecorded = wasRecorded || Boolean(msg.recording);
    const recordBtn = $("record");
    if (recordBtn) {
      recordBtn.textContent = msg.recording ? S.stopRecording : S.record;
      recordBtn.setAttribute("aria-pressed", String(Boolean(msg.recording)));
      recordBtn.dataset.on = msg.recording ? "yes" : "no";
    }
    if (isHost) {
      if (!msg.publisher) setStatus(S.connecting, "connecting");
    } else if (!msg.publisher) {
      const teacherView = [...views.entries()].find(([, v]) => v.pc === window.sabaqRoom.pc);
      if (teacherView) closeView(teacherView[0]);
      video.srcObject = null;
      $("waiting").hidden = false;
      setStatus(msg.state === "waiting" ? S.waitingTeacher : S.teacherAway, "waiting");
    }
  }

  // -- the people the teacher removed, each with "Let back in" ---------------------------------
  async function showRemoved() {
    const box = $("removed");
    if (!box) return;
    let people = [];
    try {
      const r = await fetch(`/classes/${cfg.classId}/removed`, { headers: { Accept: "application/json" } });
      if (!r.ok) return;
      people = (await r.json()).removed;
    } catch (e) {
      return;
    }
    const list = $("removed-list");
    list.replaceChildren();
    for (const person of people) {
      const li = document.createElement("li");
      li.dataset.user = String(person.user_id);
      li.textContent = `${person.name} `;
      const back = button(S.letBackIn, async () => {
        back.disabled = true;
        await fetch(`/classes/${cfg.classId}/removed/${person.user_id}/readmit`, {
          method: "POST",
          headers: { "X-CSRF-Token": cfg.csrf, Accept: "application/json" },
        }).catch(() => null);
        showRemoved();
      });
      back.setAttribute("aria-label", S.letBackInWho.replace("{name}", () => person.name));
      li.appendChild(back);
      list.appendChild(li);
    }
    box.hidden = people.length === 0;
  }

  // -- the chat: times in the group's zone, private words with the teacher, text only --------
  // Everything said is put in as text (textContent): a link or markup shows as typed.
  let timeFormat;
  try {
    timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      timeZone: cfg.zone, hour: "2-digit", minute: "2-digit",
    });
  } catch (e) {
    timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  const chatTo = $("chat-to");

  function replyOption(pid, name) {
    let option = [...chatTo.options].find((o) => o.value === pid);
    if (!option) {
      option = document.createElement("option");
      option.value = pid;
      option.textContent = S.onlyTo.replace("{name}", () => name);
      chatTo.appendChild(option);
    }
    return option;
  }

  function showChat(m) {
    const log = $("chat-log");
    const li = document.createElement("li");
    if (m.id !== undefined && m.id !== null) li.dataset.id = String(m.id);
    if (typeof m.at === "number") {
      const at = new Date(m.at * 1000);
      const time = document.createElement("time");
      time.dateTime = at.toISOString();
      time.textContent = timeFormat.format(at);
      li.appendChild(time);
    }
    const who = document.createElement("strong");
    who.textContent = `${m.name}: `;
    li.appendChild(who);
    li.appendChild(document.createTextNode(m.text));
    if (m.broadcast) {
      li.classList.add("broadcast");
      li.appendChild(Object.assign(document.createElement("span"), { className: "private-note", textContent: ` (${S.boToAll})` }));
    }
    if (m.private) {
      li.classList.add("private");
      const note = document.createElement("span");
      note.className = "private-note";
      const mine = m.from === myId;
      let text = S.privatelyToYou;
      if (mine) text = isHost ? S.privatelyTo.replace("{name}", () => m.to_name) : S.toTeacherOnly;
      note.textContent = ` (${text})`;
      li.appendChild(note);
      if (isHost && !mine) {
        // The teacher answers that person privately: they are in the "to" list from now on.
        replyOption(m.from, m.name);
        const answer = button(S.answerPrivately.replace("{name}", () => m.name), () => {
          replyOption(m.from, m.name).selected = true;
          $("chat-text").focus();
        });
        li.append(" ", answer);
      }
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    if (chatFolded() && m.from !== myId) {
      unread += 1;
      showUnread();
    }
  }

  // On a phone the chat is folded until opened; what comes meanwhile is counted.
  const narrow = window.matchMedia("(max-width: 40rem)");
  const chatBox = $("chat");
  let chatOpen = false;
  let unread = 0;

  function chatFolded() {
    return narrow.matches && !chatOpen;
  }

  function showUnread() {
    const badge = $("chat-unread");
    badge.textContent = String(unread);
    badge.title = S.unread.replace("{n}", () => unread);
    badge.setAttribute("aria-label", badge.title);
    badge.hidden = !(unread && chatFolded());
  }

  function foldChat() {
    const folded = chatFolded();
    if (!folded) unread = 0;
    chatBox.classList.toggle("folded", folded);
    const toggle = $("chat-toggle");
    toggle.textContent = folded ? S.show : S.hide;
    toggle.setAttribute("aria-expanded", String(!folded));
    showUnread();
  }

  async function handle(msg) {
    switch (msg.type) {
      case "welcome":
        quick.note("welcome");
        myId = msg.participant_id;
        retries = 0;
        // Before any offer is answered, so no camera video is sent if the viewer chose not to.
        if (lowBandwidthBtn && Boolean(msg.low_bandwidth) !== lowBandwidth) {
          send("low_bandwidth", { on: lowBandwidth });
        }
        controls.welcome(msg); // before I publish: what is off stays off
        // The chat so far: what the page shows stays (back after a drop, or joined again in
        // place); what it lacks is added.
        {
          const shown = new Set([...$("chat-log").children].map((li) => li.dataset.id));
          (msg.chat || []).filter((m) => !shown.has(String(m.id))).forEach(showChat);
        }
        if (isHost) showRemoved();
        unread = 0; // what was said before one came is there to read, not news
        showUnread();
        breakout.welcome();
        gallery.welcome(msg);
        seminarNow = msg.mode === "seminar";
        if (publishes) {
          if (isHost) liveClock(true);
          await publish(localStream, youAreLive);
          if (screenStream) await publishScreen(); // back after a reconnect: share again
        }
        break;
      case "roster":
        renderRoster(msg);
        breakout.roster(msg);
        break;
      case "offer":
        await onOffer(msg);
        break;
      case "answer": {
        const target = msg.publication === "screen" ? screenPc : pubPc;
        if (target) await target.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        break;
      }
      case "source_ended":
        closeView(msg.source);
        break;
      case "floor_granted":
        // In a seminar my camera and microphone, on already, carry the floor as they are.
        if (!gallery.publishing()) await takeFloor(Boolean(msg.camera));
        break;
      case "muted":
        controls.muted();
        break;
      case "unmute_requested":
        controls.unmuteRequested();
        break;
      case "floor_revoked":
        leaveFloor();
        gallery.stop(); // the server stopped what I sent in a seminar too: I may turn it on again
        passingStatus(S.floorTaken);
        break;
      case "chat":
        showChat(msg);
        breakout.chat(msg);
        break;
      case "ended":
        finish(S.ended, "ended");
        break;
      case "error":
        if (questions.error(msg) || breakout.error(msg)) break;
        if (rejoining && (msg.code === "reconnect_expired" || msg.code.startsWith("token_"))) {
          resume = null;
          fresh = true;
        } else if (msg.code === "moved") {
          // The class runs on another server now: a new join token names it (after the usual
          // pause, so that a server that keeps saying so is not asked in a tight loop).
          resume = null;
        } else if (msg.code === "events_backlog") busy = S.busy;
        else if (msg.code === "not_recorded") busy = cfg.errors.not_recorded; // a new join token, after a pause
        else if (msg.code === "opened_elsewhere") {
          // No error: the person is in the class elsewhere. Said plainly, with Join to take
          // it back to this page.
          finish(S.openedElsewhere, "elsewhere");
          offerRejoin();
        }
        else if (msg.code === "removed") {
          finish(S.removed, "closed");
          watchReadmission();
        }
        else if (msg.code === "revoked") finish(S.revoked, "closed");
        else if (msg.code === "not_admitted") finish(msg.message, "closed"); // said in the class's language
        else if (msg.code === "waiting_for_teacher") setStatus(S.waitingTeacher, "waiting");
        else if (msg.code === "class_ended") finish(S.ended, "ended");
        else if (msg.code === "class_cancelled") {
          // Cancelled after the join token was fetched: the media node says so (with the
          // timetable's reason), and the page says it as its own card, as for the token.
          const reason = msg.reason ? ` ${S.cancelReason.replace("{reason}", () => msg.reason)}` : "";
          finish(`${S.cancelled}${reason}`, "cancelled");
        }
        else if (msg.code === "not_online") finish(S.notOnline, "in_person");
        else if ([
          "chat_too_fast", "too_fast", "camera_not_allowed", "nothing_to_record",
          "recording_not_recorded", "removal_not_recorded", "no_hands", "no_teacher",
        "no_such_participant",
        ].includes(msg.code)) {
          setStatus(cfg.errors[msg.code]);
        }
        else if (msg.code === "server_stopping") resume = null; // may come back elsewhere
        else if (msg.code === "media_timeout") busy = cfg.errors.media_timeout; // closed 4505: it reconnects
        else if (msg.code !== "media_failed") {
          finish(`${S.refused} ${cfg.errors[msg.code] || msg.message}`, "error");
        }
        break;
      default:
        if (questions.handle(msg)) break; // question, answer_taken, question_results
        if (breakout.handle(msg)) break; // breakout, breakout_closed
        gallery.handle(msg); // mode, active_speaker, quality
        if (msg.type === "mode") {
          seminarNow = msg.mode === "seminar";
          if (lastRoster) renderRoster(lastRoster);
        }
        break;
    }
  }

  function finish(text, state) {
    finished = true;
    liveClock(false);
    if (countdown) countdown.hidden = true;
    setStatus(text, state);
    closeAllMedia();
    leaveFloor();
    gallery.stop();
    questions.stop();
    breakout.stop();
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
    if (screenStream) screenStream.getTracks().forEach((t) => t.stop());
    controls.hide();
    // Out of the class (left, refused, removed, taken over by another tab): the status says
    // so, beside Join where joining again is possible; the roster, the chat and the class's
    // controls go with the stage until Join brings them back (``enter``).
    const out = OUT_STATES.has(state);
    $("stage").hidden = out || state === "error";
    if (out) closeInClassPanels();
    if (state === "ended") showEnded();
    if (state === "cancelled" || state === "in_person") showUnavailable(text);
  }

  // The class cannot be joined, and it did not end: its card says why, as the server's page
  // for such a class does (its heading the server's message; Join goes).
  function showUnavailable(text) {
    $("unavailable-title").textContent = text;
    const detail = $("unavailable-detail");
    detail.textContent = "";
    detail.hidden = true;
    $("unavailable").hidden = false;
    ["joined-directly", "rejoin"].forEach((id) => {
      const el = $(id);
      if (el) el.hidden = true;
    });
  }

  function closeInClassPanels() {
    const check = $("check"); // the device check opened again from the class
    if (check) check.hidden = true;
    $("rec").hidden = true;
    ["settings", "ask", "breakout-dialog"].forEach((id) => {
      const dialog = $(id);
      if (dialog && dialog.open) dialog.close();
    });
    document.title = baseTitle;
  }

  // -- joining again on this page ------------------------------------------------------------
  // After leaving, after another tab took over, or once the teacher let me back in, Join takes
  // me into the class again in place: a new join token and WebSocket, media built anew — no
  // page load, so the chat read so far stays on the page, and so do the devices chosen and my
  // microphone and camera as I left them.
  const rejoinBtn = $("rejoin");

  function offerRejoin() {
    if (!rejoinBtn) return;
    rejoinBtn.hidden = false;
    rejoinBtn.focus();
  }

  async function rejoinHere() {
    rejoinBtn.hidden = true;
    if (publishes) {
      // The camera and microphone chosen (kept in this browser), started again: ``finish``
      // stopped them.
      try {
        localStream = await SabaqDevices.open(true, true);
        video.srcObject = localStream;
      } catch (e) {
        setStatus(S.noCamera, "closed");
        rejoinBtn.hidden = false;
        return;
      }
    }
    finished = false;
    retries = 0;
    resume = null;
    busy = null;
    questions.resume();
    enter();
  }

  if (rejoinBtn) rejoinBtn.addEventListener("click", rejoinHere);

  // -- removed, until the teacher lets me back in -------------------------------------------
  // A removed student's page asks now and then whether the teacher still keeps them out; once
  // let back in (and the class still on), it says so and offers Join, which joins in place.
  const READMIT_POLL_MS = 3000;
  let readmitTimer = null;

  function watchReadmission() {
    const rejoin = rejoinBtn;
    // A guest's invitation has a page of its own, and nobody polls for the teacher.
    if (!rejoin || readmitTimer !== null || isHost || cfg.joinTokenUrl) return;
    const ask = async () => {
      readmitTimer = null;
      let doc = null;
      try {
        const r = await fetch(`/classes/${cfg.classId}/removed/me`, { headers: { Accept: "application/json" } });
        if (r.ok) doc = await r.json();
      } catch (e) {
        doc = null; // the network, for a moment: asked again
      }
      if (doc && !doc.joinable) return; // the class is over: nothing to come back to
      if (doc && !doc.removed) {
        setStatus(S.letBack, "check");
        offerRejoin();
        return;
      }
      readmitTimer = setTimeout(ask, READMIT_POLL_MS);
    };
    readmitTimer = setTimeout(ask, READMIT_POLL_MS);
  }

  // -- the end is the end -------------------------------------------------------------------
  // Once the class has ended (told "ended", closed with 4000, or refused as over) the page shows
  // only what is left of it: no roster, controls or video, every track stopped and every peer
  // connection closed (``finish`` did that), and links to the recordings the viewer may see and,
  // for the teacher and staff, to the register. The recording's stop reaches the record a
  // moment after the end, so the list is asked for again for a while when it was recording.
  let endedShown = false;

  function showEnded() {
    if (endedShown) return;
    endedShown = true;
    $("stage").hidden = true;
    const check = $("check");
    if (check) check.hidden = true;
    const direct = $("joined-directly");
    if (direct) direct.hidden = true;
    // The ended card lists the recordings and the register: the page's own list of them goes.
    ["recordings", "room-register"].forEach((id) => {
      const el = $(id);
      if (el) el.hidden = true;
    });
    $("rec").hidden = true;
    document.title = baseTitle;
    [video, screenVideo].forEach((el) => {
      el.pause();
      el.srcObject = null;
    });
    room.querySelectorAll(":scope > audio").forEach((el) => el.remove());
    $("ended").hidden = false;
    room.dataset.state = "ended";
    listRecordings(wasRecorded ? 10 : 1);
  }

  function recordingLink(r) {
    const li = document.createElement("li");
    li.dataset.kind = r.kind;
    const a = document.createElement("a");
    a.href = r.url;
    if (r.kind === "chat") a.setAttribute("download", "");
    a.textContent = {
      camera: S.recordingCamera,
      screen: S.recordingScreen,
      "presenter-camera": S.recordingPresenterCamera,
      "presenter-screen": S.recordingPresenterScreen,
      "student-camera": S.recordingStudentCamera,
      chat: S.recordingChat,
    }[r.kind] || r.name;
    const at = new Date(r.at);
    const time = document.createElement("time");
    time.dateTime = at.toISOString();
    time.textContent = timeFormat.format(at);
    li.append(a, " · ", time);
    return li;
  }

  async function listRecordings(tries) {
    if (!cfg.recordingsUrl) return; // a guest: recordings are for the group, its teachers, staff
    let rows = [];
    try {
      const r = await fetch(cfg.recordingsUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (r.ok) rows = (await r.json()).recordings;
    } catch (e) {
      rows = [];
    }
    $("ended-links").replaceChildren(...rows.map(recordingLink));
    if (!rows.length && tries > 1) setTimeout(() => listRecordings(tries - 1), 1000);
  }

  // After a drop the page comes back as the same participant with the reconnect token of its
  // last welcome (within the grace period); after that, it joins afresh with a new join token.
  let resume = null;
  let current = null; // the newest socket; messages of older ones are not acted on
  let rejoining = false;
  let fresh = false;

  // A join token: the one fetched while the check ran (with its WebSocket, still open), or a new one.
  async function joinToken() {
    const early = quick.take();
    if (!early) return { reply: await quick.fetchToken(), socket: null };
    return { reply: await early.reply, socket: early.socket };
  }

  async function connect() {
    setStatus(retries ? S.reconnecting : S.connecting, retries ? "reconnecting" : "connecting");
    let first;
    let mediaUrl;
    let socket = null;
    if (resume && Date.now() < resume.until) {
      first = { type: "rejoin", token: resume.token };
      mediaUrl = resume.mediaUrl;
    } else {
      resume = null;
      try {
        const got = await joinToken();
        const body = got.reply.body;
        if (got.reply.ok && body.state === "waiting") {
          // A guest in the lobby: let in once the teacher has started the class.
          setStatus(S.waitingTeacher, "waiting");
          setTimeout(connect, (Number(body.retry_after) || 3) * 1000);
          return;
        }
        const refusal = !got.reply.ok && body.error ? body.error.code : null;
        if (refusal === "class_ended" || refusal === "class_over") {
          finish(S.ended, "ended"); // over since the page was made (a guest in the lobby, say)
          return;
        }
        if (refusal === "class_cancelled" || refusal === "not_online") {
          // Cancelled or held in person since the page was made: said as a page opened now
          // says it, in the server's words (the reason too), not as a refusal.
          finish(body.error.message, refusal === "class_cancelled" ? "cancelled" : "in_person");
          return;
        }
        if (!got.reply.ok) {
          finish(`${S.refused} ${body.error.message}`, "error");
          return;
        }
        // The relay's credentials are minted for this join (time-limited), not put in the page.
        if (Array.isArray(body.ice_servers)) cfg.iceServers = body.ice_servers;
        first = { type: "join", token: body.token };
        mediaUrl = body.media_url;
        socket = got.socket;
      } catch (e) {
        return retry();
      }
    }
    rejoining = first.type === "rejoin";
    fresh = false;
    socket = ws = current = socket || new WebSocket(quick.socketUrl(mediaUrl));
    const hello = () => {
      quick.note("joinSent");
      send(first.type, { token: first.token });
    };
    if (socket.readyState === WebSocket.OPEN) hello();
    else socket.onopen = hello;
    // Messages are handled one after another: an offer is answered before the next is read.
    let queue = Promise.resolve();
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "welcome") {
        resume = {
          token: msg.reconnect_token,
          until: Date.now() + (msg.reconnect_grace - 2) * 1000,
          mediaUrl: mediaUrl,
        };
      }
      // A message of a socket that is no longer the current one is not acted on.
      queue = queue
        .then(() => (socket === current ? handle(msg) : undefined))
        .catch((e) => console.error("sabaq:", e));
    };
    let welcomed = false;
    socket.addEventListener("message", (ev) => {
      if (JSON.parse(ev.data).type === "welcome") welcomed = true;
    });
    socket.onclose = (ev) => {
      if (ws === socket) ws = null;
      if (finished) return;
      // Coming back to a server that is gone (it failed; its classes start on another one):
      // ask at once for a new join token, which names the server the class is on now.
      if (rejoining && !welcomed) {
        resume = null;
        if (!FINAL_CLOSES.has(ev.code)) return connect();
      }
      if (fresh) return connect(); // the rejoin came too late: join afresh, at once
      if (FINAL_CLOSES.has(ev.code)) {
        if (ev.code === 4003) {
          finish(S.removed, "closed");
          watchReadmission();
        }
        // Closed for a class cancelled or held in person: its error message says which.
        else if (ev.code === 4000 && !CLOSED_NOT_ENDED.has(ev.reason)) finish(S.ended, "ended");
        return;
      }
      retry();
    };
  }

  function retry() {
    if (finished) return;
    liveClock(false);
    closeAllMedia();
    leaveFloor();
    setStatus(busy || S.reconnecting, "reconnecting");
    busy = null;
    const delay = Math.min(500 * 2 ** retries, 8000);
    retries += 1;
    setTimeout(connect, delay);
  }

  window.sabaqRoom = { pc: null, views: views, gallery: gallery, breakout: breakout };

  // Into the class: the check's card gives way to the stage, and `join` is sent — on the socket
  // prepared while the check ran, or on a new one.
  function enter() {
    quick.note("joinClicked");
    const check = $("check"); // none on a page made while the teacher kept me out
    if (check) check.hidden = true;
    $("stage").hidden = false;
    $("waiting").hidden = isHost; // the teacher is never waiting for the teacher
    controls.refresh();
    connect();
  }

  // Devices that passed the check today in this browser: straight in, and told so (the check
  // can be opened again, and Leave is there as always). Someone who publishes goes in once the
  // camera is on; a camera that is not there now means the check, as for anyone.
  // The way in is readied ahead (token, socket) only for someone who will take part, from a
  // little before the start (the server decides: its clock, the person's role in the class).
  function prepareJoin() {
    if (cfg.prepareJoin !== false) quick.prepare();
  }

  async function enterDirectly() {
    prepareJoin();
    if (publishes) {
      try {
        const stream = await SabaqDevices.open(true, true);
        localStream = stream;
        video.srcObject = stream;
      } catch (e) {
        quick.check().then((ok) => ($("join").disabled = !ok));
        return;
      }
    }
    $("joined-directly").hidden = false;
    enter();
  }

  const joinBtn = $("join");
  if (joinBtn) {
    joinBtn.addEventListener("click", () => {
      if (isHost && typeof window.AudioContext === "function") {
        try {
          audio = new AudioContext(); // made on a click, so that the chime may sound
        } catch (e) {
          audio = null;
        }
      }
      enter();
    });
    if (quick.passedToday()) {
      enterDirectly();
    } else {
      prepareJoin(); // while the check runs; nothing is sent that joins
      quick.check().then((ok) => (joinBtn.disabled = !ok));
    }
    $("check-again").addEventListener("click", () => {
      // In the class already: the check is shown and run again, with the camera in use.
      const show = $("check").hidden;
      joinBtn.hidden = true;
      $("check").hidden = !show;
      $("check-again").setAttribute("aria-expanded", String(show));
      if (show) quick.check(localStream);
    });
  }
  const leaveBtn = $("leave");
  leaveBtn.addEventListener("click", () => {
    send("leave");
    finish(S.left, "left"); // on purpose: said plainly, not as an error
    if (ws) ws.close(1000);
    offerRejoin();
  });
  $("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("chat-text");
    const text = input.value.trim();
    if (text) send("chat", chatTo.value ? { text: text, to: chatTo.value } : { text: text });
    input.value = "";
    // The teacher's private answer goes once: the next message is to everyone again (as the
    // select then shows), not private by surprise.
    if (text && isHost) chatTo.value = "";
  });
  $("chat-toggle").addEventListener("click", () => {
    chatOpen = chatFolded(); // folded: open it; open: fold it
    foldChat();
  });
  narrow.addEventListener("change", foldChat);
  foldChat();
  const recordBtn = $("record");
  if (recordBtn) {
    recordBtn.addEventListener("click", () =>
      send(recordBtn.dataset.on === "yes" ? "stop_recording" : "start_recording"),
    );
  }
  const shareBtn = $("share");
  if (shareBtn) shareBtn.addEventListener("click", () => (screenStream ? stopScreen() : startScreen()));
  const nextBtn = $("next-hand");
  if (nextBtn) nextBtn.addEventListener("click", () => send("next_hand"));
  const handBtn = $("hand");
  if (handBtn) {
    handBtn.addEventListener("click", () => send(handRaised ? "lower_hand" : "raise_hand"));
  }
  if (cfg.removed) watchReadmission();
  if (lowBandwidthBtn) {
    showLowBandwidth();
    lowBandwidthBtn.addEventListener("click", () => setLowBandwidth(!lowBandwidth));
  }
  const endBtn = $("end");
  if (endBtn) {
    const warning = $("end-warning");
    const showEnding = (on) => {
      endBtn.hidden = on;
      $("end-confirm").hidden = !on;
      $("end-cancel").hidden = !on;
      const left = heldRemaining();
      // Ending before the class counts as held makes it missed: said before it is done.
      warning.textContent = on && left > 0 ? S.endMissed.replace("{time}", () => clock(left)) : "";
      warning.hidden = !warning.textContent;
    };
    endBtn.addEventListener("click", () => showEnding(true));
    $("end-cancel").addEventListener("click", () => {
      showEnding(false);
      endBtn.focus();
    });
    $("end-confirm").addEventListener("click", () => send("end_class"));
  }
})();
