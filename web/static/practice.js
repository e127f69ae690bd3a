// The practice room: each device checked alone, with a verdict in plain words and what to do;
// and a short tour of the class page. The network check is a real peer connection to the media
// node (a data channel it echoes): the same path sound and video take in a class.
// For a student, a check passed in every part and the tour taken to its end are recorded (the
// introduction of clause 5); the server keeps the first time of each.
"use strict";

(function () {
  const cfg = JSON.parse(document.getElementById("practice-config").textContent);
  const S = cfg.strings;
  const $ = (id) => document.getElementById(id);
  const SLOW_MS = 400;
  let stream = null;
  let meterTimer = null;
  const results = {};
  const sent = {};

  function taken(step, extra) {
    if (!cfg.record || sent[step]) return;
    sent[step] = true;
    fetch("/practice/taken", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": cfg.csrf,
      },
      body: JSON.stringify(Object.assign({ step: step }, extra || {})),
    }).then((r) => { if (!r.ok) sent[step] = false; }, () => { sent[step] = false; });
  }

  function verdict(check, ok, text) {
    const li = document.querySelector(`[data-check="${check}"]`);
    li.dataset.ok = ok === null ? "" : ok ? "yes" : "no";
    li.querySelector(".verdict").textContent = text;
    results[check] = ok;
    const done = ["browser", "server", "path", "camera", "microphone", "speakers"];
    if (done.every((c) => results[c] !== undefined && results[c] !== null)) {
      const all = done.every((c) => results[c]);
      $("overall").textContent = all ? S.ready : S.notReady;
      $("overall").dataset.ok = all ? "yes" : "no";
      if (all) taken("check", { results: Object.fromEntries(done.map((c) => [c, true])) });
    }
  }

  // The loudest the microphone gets over a moment, 0–100.
  function listen(s) {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(s).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    let loudest = 0;
    return new Promise((resolve) => {
      const started = performance.now();
      meterTimer = setInterval(() => {
        analyser.getByteTimeDomainData(data);
        let peak = 0;
        for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
        const level = Math.min(100, Math.round((peak / 128) * 100));
        $("level").value = level;
        loudest = Math.max(loudest, level);
        if (performance.now() - started > 2000) {
          clearInterval(meterTimer);
          ctx.close();
          resolve(loudest);
        }
      }, 100);
    });
  }

  async function check() {
    for (const c of ["browser", "server", "path", "camera", "microphone"]) {
      verdict(c, null, S.checking);
      delete results[c];
    }
    $("overall").textContent = "";
    if (stream) stream.getTracks().forEach((t) => t.stop());
    const hasRtc = typeof RTCPeerConnection === "function" && typeof WebSocket === "function";
    verdict("browser", hasRtc, hasRtc ? S.browserOk : S.browserBad);
    try {
      const r = await fetch("/healthz", { cache: "no-store" });
      verdict("server", r.ok, r.ok ? S.serverOk : S.serverBad);
    } catch (e) {
      verdict("server", false, S.serverBad);
    }
    const ms = hasRtc ? await SabaqCheck.mediaPath("/practice/echo", cfg.csrf) : null;
    if (ms === undefined) verdict("path", false, S.pathBusy);
    else if (ms === null) verdict("path", false, S.pathBad);
    else verdict("path", true, (ms > SLOW_MS ? S.pathSlow : S.pathOk).replace("{ms}", ms));
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      $("preview").srcObject = stream;
      verdict("camera", true, S.cameraOk);
      const loudest = await listen(stream);
      verdict("microphone", loudest > 2, loudest > 2 ? S.micOk : S.micSilent);
    } catch (e) {
      verdict("camera", false, S.cameraBad);
      verdict("microphone", false, S.cameraBad);
    }
  }

  // A short tone at a comfortable level; the person says whether they heard it.
  $("play").addEventListener("click", () => {
    const ctx = new AudioContext();
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    gain.gain.value = 0.2;
    tone.frequency.value = 440;
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + 1);
    tone.onended = () => ctx.close();
    $("heard").disabled = false;
    $("not-heard").disabled = false;
  });
  $("heard").addEventListener("click", () => verdict("speakers", true, S.speakersOk));
  $("not-heard").addEventListener("click", () => verdict("speakers", false, S.speakersBad));
  $("again").addEventListener("click", check);

  // -- the tour: one step at a time -----------------------------------------------------------
  const steps = Array.from($("tour").children);
  let at = 0;
  function show() {
    steps.forEach((li, i) => (li.hidden = i !== at));
    $("tour-position").textContent = S.step.replace("{n}", at + 1).replace("{total}", steps.length);
    $("tour-back").disabled = at === 0;
    $("tour-next").disabled = at === steps.length - 1;
    if (at === steps.length - 1) taken("tour");
  }
  $("tour-back").addEventListener("click", () => {
    at = Math.max(0, at - 1);
    show();
  });
  $("tour-next").addEventListener("click", () => {
    at = Math.min(steps.length - 1, at + 1);
    show();
  });
  show();
  check();
})();
