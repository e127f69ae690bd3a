// Camera, microphone and speakers: the choice (kept in this browser), a live preview and a
// microphone level meter — in the device check before joining and in the class's settings.
// The page that owns the media (room.js) is told of a new camera or microphone by a
// "sabaq:device" event and switches its tracks itself; speakers are switched here.
"use strict";

window.SabaqDevices = (function () {
  const $ = (id) => document.getElementById(id);
  const KEYS = { videoinput: "sabaq.camera", audioinput: "sabaq.microphone", audiooutput: "sabaq.speaker" };
  const SELECTS = { videoinput: "camera-select", audioinput: "microphone-select", audiooutput: "speaker-select" };
  let strings = {};
  let shown = null; // the stream previewed now
  let audio = null;
  let source = null;
  let timer = null;

  function chosen(kind) {
    try {
      return localStorage.getItem(KEYS[kind]) || "";
    } catch (e) {
      return ""; // storage refused (a private window): the browser's default
    }
  }

  function remember(kind, id) {
    try {
      localStorage.setItem(KEYS[kind], id);
    } catch (e) {
      // not kept for the next visit; in effect now
    }
  }

  // What getUserMedia is asked for: the chosen devices, ``exact`` (those or none) or as a mere
  // preference (which Chromium ignores, opening its default device).
  function constraints(camera, microphone, exact) {
    const pick = (kind, base) => {
      const id = chosen(kind);
      return id ? Object.assign({ deviceId: exact ? { exact: id } : { ideal: id } }, base) : base;
    };
    return {
      video: camera ? pick("videoinput", { width: 640, height: 480 }) : false,
      audio: microphone ? pick("audioinput", {}) : false,
    };
  }

  // The camera and microphone chosen (kept in this browser), opened: asked for exactly, so that
  // the one chosen is the one used; one unplugged since (the exact request fails), asked again
  // without it, so that another device serves rather than none. Every way in uses this: the
  // device check, joining directly after a reload, joining again in place, the floor.
  function open(camera, microphone) {
    const media = navigator.mediaDevices;
    const exact = constraints(camera, microphone, true);
    const loose = constraints(camera, microphone, false);
    if (JSON.stringify(exact) === JSON.stringify(loose)) return media.getUserMedia(exact);
    return media.getUserMedia(exact).catch((e) => {
      if (e && e.name === "NotAllowedError") throw e; // refused: asking again would not help
      return media.getUserMedia(loose);
    });
  }

  function canChooseSpeakers() {
    return typeof HTMLMediaElement === "function" && "setSinkId" in HTMLMediaElement.prototype;
  }

  function applySink(el) {
    const id = chosen("audiooutput");
    if (id && canChooseSpeakers()) el.setSinkId(id).catch(() => {});
  }

  // The selects list what the browser reports; a kind with nothing to choose (no permission
  // yet, or speakers where the browser cannot switch them) is not shown.
  async function fill() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (e) {
      devices = [];
    }
    const live = {};
    if (shown) shown.getTracks().forEach((t) => {
      const id = t.getSettings ? t.getSettings().deviceId : "";
      live[t.kind === "audio" ? "audioinput" : "videoinput"] = id;
    });
    for (const kind of Object.keys(SELECTS)) {
      const select = $(SELECTS[kind]);
      if (!select) continue;
      const found = devices.filter((d) => d.kind === kind && d.deviceId);
      const usable = found.length > 0 && (kind !== "audiooutput" || canChooseSpeakers());
      select.closest(".device").hidden = !usable;
      if (!usable) continue;
      const name = { videoinput: strings.camera, audioinput: strings.microphone, audiooutput: strings.speakers };
      select.replaceChildren(...found.map((d, i) => {
        const option = document.createElement("option");
        option.value = d.deviceId;
        option.textContent = d.label || `${name[kind] || kind} ${i + 1}`;
        return option;
      }));
      const want = live[kind] || chosen(kind);
      if (found.some((d) => d.deviceId === want)) select.value = want;
    }
  }

  // The level meter: the microphone's loudness (RMS), read ten times a second, 0 to 1.
  function listen(stream) {
    if (timer) clearInterval(timer);
    if (source) source.disconnect();
    timer = source = null;
    const meter = $("mic-level");
    const track = stream && stream.getAudioTracks()[0];
    if (!meter) return;
    meter.value = 0;
    // Shown while there is a microphone to measure (not for one who only listens).
    meter.closest(".device").hidden = !track || typeof window.AudioContext !== "function";
    if (!track || typeof window.AudioContext !== "function") return;
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume().catch(() => {});
      source = audio.createMediaStreamSource(new MediaStream([track]));
      const analyser = audio.createAnalyser();
      analyser.fftSize = 1024;
      source.connect(analyser);
      const samples = new Float32Array(analyser.fftSize);
      timer = setInterval(() => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const s of samples) sum += s * s;
        meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      }, 100);
    } catch (e) {
      meter.value = 0; // no meter here; the sound still goes
    }
  }

  // Show a stream in the preview, its microphone in the meter, and list the devices (labels
  // come once the browser was allowed a camera or microphone).
  function preview(stream) {
    shown = stream;
    const video = $("preview");
    if (video) {
      const hasVideo = Boolean(stream && stream.getVideoTracks().length);
      video.srcObject = hasVideo ? new MediaStream(stream.getVideoTracks()) : null;
      video.hidden = !hasVideo;
      if (hasVideo) video.play().catch(() => {});
    }
    listen(stream);
    return fill();
  }

  function init(texts) {
    strings = texts || {};
    for (const kind of Object.keys(SELECTS)) {
      const select = $(SELECTS[kind]);
      if (!select) continue;
      select.addEventListener("change", () => {
        remember(kind, select.value);
        if (kind === "audiooutput") {
          document.querySelectorAll("audio, video").forEach(applySink);
        } else {
          document.dispatchEvent(new CustomEvent("sabaq:device", { detail: { kind: kind, deviceId: select.value } }));
        }
      });
    }
    // Browsers start sound (the meter's too) only after a gesture: the first one resumes it.
    const wake = () => {
      if (audio && audio.state === "suspended") audio.resume().catch(() => {});
    };
    document.addEventListener("click", wake);
    document.addEventListener("keydown", wake);
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", () => fill());
    }
  }

  return { chosen: chosen, open: open, applySink: applySink, fill: fill, preview: preview, init: init };
})();
