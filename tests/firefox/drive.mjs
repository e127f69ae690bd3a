// Drives Debian's firefox-esr through one person's path into a live class, for tests/browser/test_firefox.py.
//
// Playwright's Firefox cannot drive Debian's firefox-esr; puppeteer-core can, over WebDriver BiDi
// (see shared WEBRTC-NOTES.md, "Firefox too"). No browser is downloaded.
//
// Usage: node drive.mjs '<job JSON>'   (or the job on standard input)
//
// The job:
//   url          the page to open first (a sign-in link, an invite link)             required
//   mode         "student" or "guest": a preset list of steps (below)               default "student"
//   steps        the steps themselves, instead of a mode's
//   frames       decoded video frames of the teacher's picture to wait for          default 10
//   timeout_ms   the whole run, launch included; past it the run fails             default 45000
//   step_ms      each wait of a step                                               default 15000
//   lobby_ms     how long the "live" step waits for the lobby to let the guest in  default 20000
//   hold_ms      how long the "hold" step waits to be released                    default 20000
//   window_ms    how long the "breakout" step counts packets                        default 3000
//   questions    what each "question" step does, the i-th step the i-th entry:      default []
//                  {"choice": the option to choose (0-based; default 0),
//                   "again": after the answer is counted, answer again as a student who
//                            re-enables the form in the page would (default false),
//                   "results": wait for the results to be shown to the students (default false)}
//   firefox      the browser's executable                                 default /usr/bin/firefox-esr
//
// Steps: open (navigate, wait for the room page), check (the device check passes, #join is
// enabled), join (click #join), lobby (the page waits in the lobby for the teacher), live (the
// page is let in: data-state "live"), decode (more than `frames` video frames decoded), playing
// (the <video> element plays), hold (stay as it is until a line arrives on standard input, or it
// closes: the caller checks the server meanwhile; only with the job on argv), breakout (the page
// shows its breakout group; then the RTP packets each of its connections receives over
// `window_ms` are counted, by source), question (the page shows a quick question it has not
// answered; the student answers by keyboard only: the page focuses the first option, arrows (a
// single answer) or Tab (several) move to the chosen one, Space chooses it, Tab reaches the submit
// button, Enter sends; then the page says the answer was counted; the i-th such step as
// `questions[i]` says), leave (click #leave, the page says it has left).
//
// Output on standard output, one JSON object a line: {"event": STEP, "t_ms": ...} as each step
// is done (a test may act on "lobby", e.g. start the class), then one last line
//   {"ok": true|false, "error": "...", "result": {...}}
// with what was seen: final URL and HTTP status, device check marks, status text, data-state,
// frames decoded, times to the first frame, the room's strings (and its error strings), what each
// "question" step saw (`questions`: the question, the page once answered, once answered again,
// the results shown), and the errors of the page
// (uncaught exceptions and console.error) and its console warnings. Exit code 0 when every step
// passed, 1 when one failed, 2 when the whole run took longer than timeout_ms.

import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import puppeteer from "puppeteer-core";

const STEPS = [
  "open",
  "check",
  "join",
  "lobby",
  "live",
  "decode",
  "playing",
  "hold",
  "breakout",
  "question",
  "leave",
];
const MODES = {
  student: ["open", "check", "join", "live", "decode", "playing"],
  guest: ["open", "check", "join", "lobby", "live", "decode", "playing"],
};

// The page's own peer connection for the teacher's picture: the largest framesDecoded over its
// inbound video streams (as FRAMES_DECODED_JS in tests/browser/test_browser.py).
const FRAMES_DECODED = `(async () => {
  const pc = window.sabaqRoom && window.sabaqRoom.pc;
  if (!pc) return 0;
  let decoded = 0;
  try {
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        decoded = Math.max(decoded, r.framesDecoded || 0);
      }
    });
  } catch (e) {
    return 0;
  }
  return decoded;
})()`;

// RTP packets (sound and picture) each of the page's connections received, by source id.
const PACKETS = `(async () => {
  const out = {};
  for (const [source, view] of window.sabaqRoom.views) {
    let packets = 0;
    try {
      (await view.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp") packets += r.packetsReceived || 0;
      });
    } catch (e) {
      // closed (being replaced) while its stats were read
    }
    out[source] = packets;
  }
  return out;
})()`;

const SNAPSHOT = `(() => {
  const $ = (id) => document.getElementById(id);
  const text = (id) => ($(id) ? $(id).textContent : null);
  const v = $("video");
  // The quick question shown (questions.js), null when there is none.
  const question = () => {
    if (!$("question") || $("question").hidden) return null;
    const results = $("question-results");
    const kind = document.querySelector("#question p.question-kind");
    return {
      text: text("question-text"),
      kind: kind ? kind.textContent : null,
      timer: text("question-timer"),
      note: $("question-note") && !$("question-note").hidden ? text("question-note") : null,
      choices: [...document.querySelectorAll('#question-form input[name="choice"]')].map((i) => ({
        type: i.type,
        checked: i.checked,
        disabled: i.disabled,
      })),
      submit_disabled: $("question-submit") ? $("question-submit").disabled : null,
      focused: document.activeElement ? document.activeElement.id || null : null,
      results:
        results && !results.hidden
          ? {
              answered: results.dataset.answered || null,
              counts: [...results.querySelectorAll("li[data-option]")].map((li) => Number(li.dataset.count)),
            }
          : null,
    };
  };
  const checks = {};
  document.querySelectorAll("[data-check]").forEach((li) => {
    checks[li.dataset.check] = li.dataset.ok || null;
  });
  return {
    status: text("status"),
    state: $("room") ? $("room").dataset.state || null : null,
    teacher: text("teacher-name"),
    count: text("count"),
    roster: [...document.querySelectorAll("#roster li")].map((li) => li.textContent),
    waiting_hidden: $("waiting") ? $("waiting").hidden : null,
    join_enabled: $("join") ? !$("join").disabled : null,
    checks: checks,
    breakout: $("breakout") && !$("breakout").hidden ? text("breakout-where") : null,
    question: question(),
    video: v ? { width: v.videoWidth, time: v.currentTime, paused: v.paused } : null,
  };
})()`;

function readJob() {
  const raw = process.argv[2] ?? readFileSync(0, "utf8");
  const job = JSON.parse(raw);
  if (typeof job.url !== "string") throw new Error("the job has no url");
  const steps = job.steps ?? MODES[job.mode ?? "student"];
  if (!Array.isArray(steps)) throw new Error(`unknown mode ${JSON.stringify(job.mode)}`);
  const unknown = steps.filter((s) => !STEPS.includes(s));
  if (unknown.length) throw new Error(`unknown steps ${JSON.stringify(unknown)}`);
  return {
    url: job.url,
    steps: steps,
    frames: job.frames ?? 10,
    timeoutMs: job.timeout_ms ?? 45000,
    stepMs: job.step_ms ?? 15000,
    lobbyMs: job.lobby_ms ?? 20000,
    holdMs: job.hold_ms ?? 20000,
    windowMs: job.window_ms ?? 3000,
    questions: job.questions ?? [],
    firefox: job.firefox ?? "/usr/bin/firefox-esr",
  };
}

const t0 = Date.now();
const since = () => Date.now() - t0;
const result = { errors: [], warnings: [], events: [] };
let browser = null;
let workDir = null;
let reported = false;

function report(ok, error, code) {
  if (reported) return;
  reported = true;
  const line = { ok: ok, result: result };
  if (error) line.error = error;
  process.stdout.write(JSON.stringify(line) + "\n");
  process.exitCode = code;
}

function cleanUp() {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}
process.on("exit", cleanUp);

function event(name, extra) {
  const e = Object.assign({ event: name, t_ms: since() }, extra || {});
  result.events.push(e);
  process.stdout.write(JSON.stringify(e) + "\n");
}

// The permission file: Firefox gathers ICE candidates in a loopback-only namespace only for an
// origin with a saved camera/microphone permission (WEBRTC-NOTES.md); the origin must match the
// page exactly, port included.
function firefoxPrefs(dir, origin) {
  const perms = join(dir, "permissions");
  const lines = ["camera", "microphone"].map((p) => `origin\t${p}\t1\t${origin}`);
  writeFileSync(perms, lines.join("\n") + "\n");
  return {
    "permissions.manager.defaultsUrl": pathToFileURL(perms).href,
    "media.peerconnection.ice.loopback": true,
    "media.peerconnection.ice.obfuscate_host_addresses": false, // no mDNS names, no multicast
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    "media.autoplay.default": 0,
  };
}

async function pollUntil(page, what, limitMs, test) {
  const deadline = Date.now() + limitMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await page.evaluate(SNAPSHOT);
    if (test(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not seen in ${limitMs} ms; the page: ${JSON.stringify(last)}`);
}

// Until the caller writes a line to standard input (or closes it), at most limitMs.
function released(limitMs) {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    const done = (error) => {
      clearTimeout(timer);
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk) => {
      if (String(chunk).includes("\n")) done();
    };
    const onEnd = () => done();
    const timer = setTimeout(() => done(new Error(`hold: not released in ${limitMs} ms`)), limitMs);
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}

// The focused element's id, after pressing `key` (the page's own focus moves, not a script's).
async function press(page, key) {
  await page.keyboard.press(key);
  return page.evaluate(`document.activeElement ? document.activeElement.id : ""`);
}

// Space chooses the focused option, Tab until the question's submit button has the focus (at
// most past every option), Enter sends; then the question as the page shows it once `test` holds.
async function chooseAndSend(page, job, q, what, test) {
  await press(page, " ");
  let at = null;
  for (let i = 0; i <= q.choices.length && at !== "question-submit"; i++) at = await press(page, "Tab");
  if (at !== "question-submit") throw new Error("Tab never reached the question's submit button");
  await press(page, "Enter");
  const snap = await pollUntil(page, what, job.stepMs, (s) => s.question && test(s.question));
  return snap.question;
}

// The "question" step: a question this run has not answered yet, answered by keyboard.
async function answer(page, job, spec) {
  const answered = (result.questions ?? []).map((q) => q.text);
  const asked = await pollUntil(
    page,
    "a new quick question",
    job.stepMs,
    (s) => s.question && s.question.submit_disabled === false && !answered.includes(s.question.text),
  );
  const q = asked.question;
  const seen = { text: q.text, kind: q.kind, focused_at_first: q.focused, status: asked.status };
  // questions.js focuses the first option of a new question; pressing keys needs it there.
  if (q.focused !== "question-choice-0") {
    throw new Error(`the new question's first option is not focused: ${JSON.stringify(q)}`);
  }
  const choice = spec.choice ?? 0;
  if (!(choice >= 0 && choice < q.choices.length)) {
    throw new Error(`no option ${choice}: ${JSON.stringify(q)}`);
  }
  const move = q.choices[0].type === "radio" ? "ArrowDown" : "Tab"; // in a radio group; across boxes
  for (let i = 0; i < choice; i++) {
    const at = await press(page, move);
    if (at !== `question-choice-${i + 1}`) throw new Error(`${move} went to ${JSON.stringify(at)}`);
  }
  const counted = result.strings.qCounted;
  const taken = (a) => a.note === counted && a.submit_disabled; // and no second answer offered
  seen.answered = await chooseAndSend(page, job, q, "the answer counted", taken);
  if (spec.again) {
    // A student who edits the page to answer once more: the form enabled again, another option.
    const other = choice === 0 ? 1 : 0;
    await page.evaluate(`(() => {
      const form = document.querySelectorAll("#question-form input, #question-submit");
      form.forEach((i) => { i.disabled = false; });
      document.getElementById("question-choice-${other}").focus();
    })()`);
    const refused = result.error_strings.already_answered;
    seen.again = await chooseAndSend(page, job, q, "the second answer refused", (a) => a.note === refused);
  }
  if (spec.results) {
    const shown = await pollUntil(
      page,
      "the results shown",
      job.stepMs,
      (s) => s.question && s.question.results,
    );
    seen.results = shown.question.results;
  }
  return seen;
}

async function run(job) {
  const origin = new URL(job.url).origin;
  workDir = mkdtempSync(join(tmpdir(), "sabaq-firefox-"));
  const profile = join(workDir, "profile");
  mkdirSync(profile);
  browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: job.firefox,
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: firefoxPrefs(workDir, origin),
    timeout: job.stepMs, // the launch
    protocolTimeout: job.stepMs, // any one command to the browser
  });
  result.browser = await browser.version();
  // The browser runs in a process group of its own: a caller that has to kill the driver
  // kills this process too.
  event("launched", { firefox_pid: browser.process()?.pid ?? null });
  const page = await browser.newPage();
  page.setDefaultTimeout(job.stepMs);
  page.on("pageerror", (err) => result.errors.push(`${page.url()}: ${err.message ?? err}`));
  page.on("console", (msg) => {
    const line = `${page.url()}: ${msg.text()}`;
    if (msg.type() === "error") result.errors.push(line);
    else if (msg.type() === "warn") result.warnings.push(line);
  });

  let tOpen = null;
  let tJoin = null;
  for (const step of job.steps) {
    switch (step) {
      case "open": {
        tOpen = Date.now();
        const response = await page.goto(job.url, { waitUntil: "load", timeout: job.stepMs });
        result.url = page.url();
        result.http_status = response ? response.status() : null;
        if (result.http_status !== 200) {
          throw new Error(`opening ${job.url} ended at ${result.url} with HTTP ${result.http_status}`);
        }
        const cfg = await page.evaluate(
          `(() => { const c = document.getElementById("room-config"); return c ? c.textContent : null; })()`,
        );
        if (cfg === null) throw new Error(`${result.url} is not a class room page`);
        const parsed = JSON.parse(cfg);
        result.role = parsed.role;
        result.strings = parsed.strings;
        result.error_strings = parsed.errors;
        break;
      }
      case "check": {
        // The device check settles every mark, then enables #join only if all passed.
        const snap = await pollUntil(page, "the device check", job.stepMs, (s) =>
          s.join_enabled === true || Object.values(s.checks).includes("no"),
        );
        result.checks = snap.checks;
        if (!snap.join_enabled) {
          throw new Error(`the device check failed: ${JSON.stringify(snap.checks)}`);
        }
        break;
      }
      case "join":
        tJoin = Date.now();
        await page.click("#join");
        break;
      case "lobby": {
        const snap = await pollUntil(page, "the lobby", job.stepMs, (s) => s.state === "waiting");
        result.lobby_status = snap.status;
        result.lobby_waiting_hidden = snap.waiting_hidden;
        break;
      }
      case "live": {
        const limit = job.steps.includes("lobby") ? job.lobbyMs : job.stepMs;
        const snap = await pollUntil(page, 'data-state "live"', limit, (s) => s.state === "live");
        result.live_status = snap.status;
        break;
      }
      case "decode": {
        const deadline = Date.now() + job.stepMs;
        let decoded = 0;
        let first = null;
        while (decoded <= job.frames) {
          if (Date.now() > deadline) {
            const snap = await page.evaluate(SNAPSHOT);
            throw new Error(
              `only ${decoded} video frames decoded in ${job.stepMs} ms (status: ${JSON.stringify(snap.status)})`,
            );
          }
          decoded = Number(await page.evaluate(FRAMES_DECODED)) || 0;
          if (decoded > 0 && first === null) first = Date.now();
          if (decoded <= job.frames) await new Promise((r) => setTimeout(r, 20));
        }
        result.frames = decoded;
        if (tOpen !== null) result.open_to_first_frame_ms = first - tOpen;
        if (tJoin !== null) result.join_to_first_frame_ms = first - tJoin;
        break;
      }
      case "playing":
        await pollUntil(
          page,
          "the <video> element playing",
          job.stepMs,
          (s) => s.video && s.video.width > 0 && s.video.time > 0 && !s.video.paused,
        );
        break;
      case "hold":
        event("holding");
        await released(job.holdMs);
        break;
      case "breakout": {
        const snap = await pollUntil(page, "the breakout panel", job.stepMs, (s) => Boolean(s.breakout));
        result.breakout_where = snap.breakout;
        await new Promise((r) => setTimeout(r, 1000)); // packets on their way as the groups opened
        const before = await page.evaluate(PACKETS);
        await new Promise((r) => setTimeout(r, job.windowMs));
        const after = await page.evaluate(PACKETS);
        result.breakout_packets = Object.fromEntries(
          Object.entries(after).map(([source, n]) => [source, n - (before[source] ?? 0)]),
        );
        break;
      }
      case "question":
        result.questions = result.questions ?? [];
        result.questions.push(await answer(page, job, job.questions[result.questions.length] ?? {}));
        break;
      case "leave": {
        await page.click("#leave");
        const left = result.strings ? result.strings.left : null;
        await pollUntil(page, "leaving", job.stepMs, (s) => s.state === "left" && s.status === left);
        break;
      }
      default:
        throw new Error(`unknown step ${JSON.stringify(step)}`);
    }
    event(step);
  }
  Object.assign(result, await page.evaluate(SNAPSHOT));
  result.frames_at_end = Number(await page.evaluate(FRAMES_DECODED)) || 0;
}

async function closeBrowser() {
  if (!browser) return;
  const b = browser;
  browser = null;
  // Closing is bounded too: a browser that does not close in 5 s is killed.
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, 5000, "late");
  });
  const how = await Promise.race([b.close().then(() => "closed", () => "failed"), late]);
  clearTimeout(timer);
  if (how !== "closed") b.process()?.kill("SIGKILL");
}

let job;
try {
  job = readJob();
} catch (e) {
  report(false, `bad job: ${e.message}`, 1);
  process.exit();
}
const watchdog = setTimeout(async () => {
  report(false, `the whole run took longer than ${job.timeoutMs} ms`, 2);
  if (browser) browser.process()?.kill("SIGKILL");
  process.exit();
}, job.timeoutMs);
try {
  await run(job);
  result.total_ms = since();
  await closeBrowser();
  report(true, null, 0);
} catch (e) {
  result.total_ms = since();
  await closeBrowser();
  report(false, e.message ?? String(e), 1);
} finally {
  clearTimeout(watchdog);
  cleanUp();
}
process.exit(); // with the exit code set by report(); standard input may still be open
