// The device check shared by the practice room and the class page: whether sound and video
// get through to the media node — a real peer connection with a data channel it echoes.
"use strict";

window.SabaqCheck = (function () {
  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, 3000);
    });
  }

  // A round trip over a data channel the media node echoes: the time in ms (the median of
  // ``pings``, 5 unless said; with 0, the channel's opening is the proof — the SCTP handshake
  // has gone both ways over ICE and DTLS — and the time is 0); null when sound and video cannot
  // get through; undefined when the check could not be made (the node busy, too many checks):
  // that says nothing about the network.
  async function mediaPath(url, csrf, pings) {
    const rounds = pings === undefined ? 5 : pings;
    let pc = null;
    try {
      // The relay's settings (if there is one) are asked for while the connection and its
      // offer are made: they are needed only once gathering starts.
      const ice = fetch(url.replace(/echo$/, "ice"), { cache: "no-store" }).then((r) =>
        r.ok ? r.json().then((body) => body.ice_servers || []) : [],
      );
      pc = new RTCPeerConnection({ iceServers: [] });
      const channel = pc.createDataChannel("practice");
      const offer = await pc.createOffer();
      pc.setConfiguration({ iceServers: await ice });
      await pc.setLocalDescription(offer);
      await gathered(pc);
      const r = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ sdp: pc.localDescription.sdp }),
      });
      if (r.status === 429 || r.status === 503) return undefined;
      if (!r.ok) return null;
      const body = await r.json();
      await pc.setRemoteDescription({ type: "answer", sdp: body.sdp });
      await new Promise((resolve, reject) => {
        if (channel.readyState === "open") return resolve();
        channel.onopen = resolve;
        setTimeout(() => reject(new Error("no connection")), 8000);
      });
      const times = [];
      for (let i = 0; i < rounds; i++) {
        const sent = performance.now();
        await new Promise((resolve, reject) => {
          channel.onmessage = resolve;
          channel.send(`ping ${i}`);
          setTimeout(() => reject(new Error("no echo")), 3000);
        });
        times.push(performance.now() - sent);
      }
      if (!times.length) return 0;
      times.sort((a, b) => a - b);
      return Math.round(times[Math.floor(times.length / 2)]);
    } catch (e) {
      return null;
    } finally {
      if (pc) pc.close();
    }
  }

  return { mediaPath: mediaPath };
})();
