// A form that takes a while (a file uploaded and checked, many rows written) says so while it
// works: its button is disabled, so it is not sent twice, and a line with a turning ring gives
// the words of its data-busy attribute.
"use strict";

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy || ev.defaultPrevented) return;
  form.setAttribute("aria-busy", "true");
  form.querySelectorAll("button[type=submit], button:not([type])").forEach((b) => {
    // After the form's data is taken (a disabled button would drop its own name=value).
    setTimeout(() => (b.disabled = true), 0);
  });
  let line = form.querySelector(".busy");
  if (!line) {
    line = document.createElement("p");
    line.className = "busy";
    line.setAttribute("role", "status");
    form.appendChild(line);
  }
  line.textContent = form.dataset.busy;
});
