// The class page's layout: the stage fits the window (its height is what is left below the
// header), and on a phone the list of people folds like the chat.
"use strict";

(function () {
  const stage = document.getElementById("stage");
  if (!stage) return;
  const root = document.documentElement;

  // The stage's distance from the page's top: the CSS grid ends the stage at the window's
  // bottom, so the side panel and the control bar are never below the fold.
  function fit() {
    if (stage.hidden) return;
    const top = stage.getBoundingClientRect().top + window.scrollY;
    root.style.setProperty("--stage-top", `${Math.round(top)}px`);
  }
  window.addEventListener("resize", fit);
  const head = document.querySelector(".room-head");
  if (head && typeof ResizeObserver === "function") new ResizeObserver(fit).observe(head);
  new MutationObserver(fit).observe(stage, { attributes: true, attributeFilter: ["hidden"] });
  fit();

  // On a phone the people fold (as the chat does) until opened.
  const narrow = window.matchMedia("(max-width: 40rem)");
  const people = document.getElementById("people");
  const toggle = document.getElementById("people-toggle");
  const S = JSON.parse(document.getElementById("room-config").textContent).strings;
  let open = false;

  function fold() {
    const folded = narrow.matches && !open;
    people.classList.toggle("folded", folded);
    toggle.textContent = folded ? S.show : S.hide;
    toggle.setAttribute("aria-expanded", String(!folded));
  }
  toggle.addEventListener("click", () => {
    open = narrow.matches && !open;
    fold();
  });
  narrow.addEventListener("change", fold);
  fold();
})();

// The stage's box takes the shape of the picture it shows (the screen while one is shared,
// otherwise the camera on the stage), so no picture is letterboxed into a box of another shape.
(function () {
  const box = document.getElementById("stage-box");
  if (!box) return;
  const screen = document.getElementById("screen");
  const camera = document.getElementById("video");
  const spotlight = document.getElementById("spotlight");

  function shape() {
    const shown = [screen, spotlight, camera].find((v) => v && !v.hidden && v.videoWidth > 0);
    const ratio = shown ? shown.videoWidth / shown.videoHeight : 4 / 3;
    box.style.setProperty("--ar", String(Math.round(ratio * 10000) / 10000));
  }
  for (const v of [screen, camera, spotlight]) {
    if (!v) continue;
    v.addEventListener("resize", shape);
    v.addEventListener("loadedmetadata", shape);
    new MutationObserver(shape).observe(v, { attributes: true, attributeFilter: ["hidden"] });
  }
  shape();
})();
