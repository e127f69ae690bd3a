// My microphone and camera in the class: off and on (buttons, and M and V on the keyboard),
// the teacher's mute and request to unmute, a self-view, and cameras and microphones switched
// from the Devices dialog. Off, the browser sends nothing on that track (replaceTrack(null))
// and the server is told (media_state), which holds it back from everyone even if something
// still came; on, the same track is sent again. No renegotiation either way, nor for a device
// switched. room.js owns the connections and calls in; this owns the controls' state.
"use strict";

window.SabaqControls = function (ctx) {
  const $ = (id) => document.getElementById(id);
  const S = ctx.strings;
  const micBtn = $("mic-toggle");
  const camBtn = $("cam-toggle");
  const selfView = $("self-view");
  let micOn = true;
  let camOn = true;
  let pubStream = null; // the stream my main publication sends (camera and microphone)
  let pubSenders = {}; // track kind → its RTCRtpSender

  function myStream() {
    return pubStream || ctx.streams().floor || ctx.streams().local;
  }

  function applySending() {
    const stream = pubStream;
    if (!stream) return;
    const want = { audio: micOn, video: camOn };
    for (const kind of ["audio", "video"]) {
      const sender = pubSenders[kind];
      const track = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
      if (!sender || !track) continue;
      const next = want[kind] ? track : null;
      if (sender.track !== next) sender.replaceTrack(next).catch((e) => console.error("sabaq:", e));
    }
  }

  function showSelf(stream, on) {
    if (on && (!selfView.srcObject || selfView.srcObject.getVideoTracks()[0] !== stream.getVideoTracks()[0])) {
      selfView.srcObject = new MediaStream(stream.getVideoTracks());
      selfView.play().catch(() => {});
    }
    selfView.hidden = !on;
  }

  function label(btn, text, key) {
    btn.textContent = text;
    btn.title = `${text} (${key})`;
  }

  function refresh() {
    const stream = myStream();
    const live = Boolean(stream) && ctx.inClass();
    const hasCamera = Boolean(stream && stream.getVideoTracks().length);
    $("media-controls").hidden = !live;
    // Each button says what it does next: off, it offers to turn it on again.
    label(micBtn, micOn ? S.micOffButton : S.micOnButton, "M");
    micBtn.setAttribute("aria-pressed", String(!micOn));
    camBtn.hidden = !hasCamera;
    label(camBtn, camOn ? S.camOffButton : S.camOnButton, "V");
    camBtn.setAttribute("aria-pressed", String(!camOn));
    const notes = [];
    if (!micOn) notes.push(S.yourMicOff);
    if (!camOn && hasCamera) notes.push(S.yourCamOff);
    const note = $("media-note");
    note.textContent = notes.join(" ");
    note.hidden = !live || notes.length === 0;
    showSelf(stream, live && hasCamera && camOn);
    // The teacher's own picture (#video shows my camera): blank while the camera is off.
    const main = $("video");
    const blank = Boolean(ctx.isHost && stream && main.srcObject === stream && hasCamera && !camOn);
    ctx.cameraOff(blank, S.yourCamOff);
    ctx.mediaChanged();
  }

  function setMedia(mic, cam) {
    micOn = mic;
    camOn = cam;
    applySending();
    refresh();
    ctx.send("media_state", { microphone: micOn, camera: camOn });
  }

  // A camera or microphone chosen in the settings: a new track of that device takes the old
  // one's place in my stream and, if that kind is on, in the sender.
  async function switchDevice(kind, deviceId) {
    const stream = myStream();
    const isVideo = kind === "videoinput";
    const old = stream && (isVideo ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0]);
    if (!old) return;
    let fresh;
    try {
      const got = await navigator.mediaDevices.getUserMedia(isVideo
        ? { video: { deviceId: { exact: deviceId }, width: 640, height: 480 } }
        : { audio: { deviceId: { exact: deviceId } } });
      fresh = isVideo ? got.getVideoTracks()[0] : got.getAudioTracks()[0];
    } catch (e) {
      ctx.setStatus(S.noDevice);
      return;
    }
    stream.removeTrack(old);
    stream.addTrack(fresh);
    old.stop();
    const sender = pubSenders[fresh.kind];
    if (sender && stream === pubStream && (isVideo ? camOn : micOn)) await sender.replaceTrack(fresh);
    const main = $("video");
    if (isVideo && main.srcObject === stream) main.srcObject = stream; // the teacher's own picture
    refresh();
    SabaqDevices.preview(stream);
  }

  // M and V (the keys where they are on a Latin keyboard, whatever the layout): microphone and
  // camera; not while typing.
  function onShortcut(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const target = ev.target;
    if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
    if ($("media-controls").hidden) return;
    if (ev.code === "KeyM") {
      ev.preventDefault();
      setMedia(!micOn, camOn);
    } else if (ev.code === "KeyV" && !camBtn.hidden) {
      ev.preventDefault();
      setMedia(micOn, !camOn);
    }
  }

  function openSettings(dialog) {
    $("settings-body").appendChild($("devices"));
    SabaqDevices.preview(myStream());
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }

  function init() {
    SabaqDevices.init({ camera: S.camera, microphone: S.microphone, speakers: S.speakers });
    micBtn.addEventListener("click", () => setMedia(!micOn, camOn));
    camBtn.addEventListener("click", () => setMedia(micOn, !camOn));
    document.addEventListener("keydown", onShortcut);
    document.addEventListener("sabaq:device", (ev) => switchDevice(ev.detail.kind, ev.detail.deviceId));
    const prompt = $("unmute-prompt");
    $("unmute-accept").addEventListener("click", () => {
      prompt.hidden = true;
      setMedia(true, camOn);
    });
    $("unmute-dismiss").addEventListener("click", () => {
      prompt.hidden = true;
    });
    const dialog = $("settings");
    $("settings-open").addEventListener("click", () => openSettings(dialog));
    $("settings-close").addEventListener("click", () => {
      if (typeof dialog.close === "function") dialog.close();
      else dialog.removeAttribute("open");
    });
  }

  init();

  return {
    // My main publication's stream and its senders, before its offer is made: what I turned
    // off stays off.
    published(stream, senders) {
      pubStream = stream;
      pubSenders = senders;
      applySending();
      refresh();
    },
    unpublished() {
      pubStream = null;
      pubSenders = {};
    },
    refresh: refresh,
    micOn: () => micOn,
    camOn: () => camOn,
    hide() {
      $("media-controls").hidden = true;
      selfView.hidden = true;
    },
    // The room keeps a microphone or camera turned off (the teacher's mute; mine, before a
    // reload): the page follows it; what I turned off while away is said again, before I
    // publish, so nothing of it reaches anyone.
    welcome(msg) {
      if (micOn && msg.microphone === false) micOn = false;
      if (camOn && msg.camera === false) camOn = false;
      if (micOn !== (msg.microphone !== false) || camOn !== (msg.camera !== false)) {
        ctx.send("media_state", { microphone: micOn, camera: camOn });
      }
      refresh();
    },
    // The teacher turned my microphone off (only I can turn it on).
    muted() {
      micOn = false;
      applySending();
      refresh();
      $("unmute-prompt").hidden = true;
      ctx.setStatus(S.mutedByTeacher);
    },
    unmuteRequested() {
      if (!micOn) $("unmute-prompt").hidden = false;
    },
    // A person's row: what is off, for everyone to see.
    rosterNotes(p) {
      const notes = [];
      if (p.microphone === false) notes.push(S.micOff);
      if (p.camera === false && p.publishing) notes.push(S.camOff);
      return notes;
    },
    // The teacher's buttons on a person's row: mute one who sends sound, ask one muted.
    rosterActions(p) {
      if (!ctx.isHost || p.id === ctx.myId()) return [];
      if (p.microphone === false) {
        const ask = ctx.button(S.askUnmute, () => {
          ctx.send("ask_unmute", { participant_id: p.id });
          ctx.setStatus(S.askedUnmute.replace("{name}", () => p.name));
        });
        ask.setAttribute("aria-label", S.askUnmuteWho.replace("{name}", () => p.name));
        return [ask];
      }
      if (!p.publishing) return [];
      const mute = ctx.button(S.mute, () => ctx.send("mute", { participant_id: p.id }));
      mute.setAttribute("aria-label", S.muteWho.replace("{name}", () => p.name));
      return [mute];
    },
  };
};
