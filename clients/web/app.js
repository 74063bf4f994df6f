// omnilive phone client. Connects the way any OpenAI Realtime WebRTC client does:
// an RTCPeerConnection with the microphone (sendrecv) and the camera (sendonly), a data
// channel "oai-events", and one POST of the SDP offer to /v1/realtime/calls.
import { renderMath } from "./math.js";

const CALLS_URL = "/v1/realtime/calls";
// A server started with --api-key: open the page as /#key=KEY (or #token=EPHEMERAL_TOKEN).
// The key is kept for this tab only (sessionStorage) and removed from the address bar.
const AUTH = (() => {
  const found = /(?:^#|&)(?:key|token)=([^&]+)/.exec(window.location.hash);
  if (found) {
    sessionStorage.setItem("omnilive-auth", decodeURIComponent(found[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  const value = sessionStorage.getItem("omnilive-auth");
  return value ? { Authorization: `Bearer ${value}` } : {};
})();
const CONNECT_TIMEOUT_MS = 20000;
const DISCONNECT_GRACE_MS = 3000;
// A dropped call is resumed (session field "resume"): the server keeps its conversation
// for 60 s, so the page keeps trying for a little less, each attempt short. A call the
// server ended for good (404 call_not_resumable) is replaced by a new one.
const RESUME_WINDOW_MS = 55000;
const RECONNECT_TIMEOUT_MS = 8000;
// The server sends audio all the time (silence too): none for this long, the path is gone.
const AUDIO_STALL_MS = 3000;
const MAX_CAPTIONS = 60;
const MAX_ROWS = 60;

const LANG_NAMES = {
  en: "English",
  es: "Español",
  fr: "Français",
  de: "Deutsch",
  it: "Italiano",
  pt: "Português",
};
const DEFAULT_FACING = { tutor: "environment", interpreter: "user", explainer: "environment" };
const HINTS = {
  tutor: "Point the camera at the problem and say \u201chelp me with this\u201d.",
  interpreter: "Speak either language; each turn is translated into the other one.",
  explainer: "Point the camera at the game and ask what is happening.",
};
const EMOTIONS = {
  happy: "\u{1F60A}",
  neutral: "\u{1F610}",
  sad: "\u{1F622}",
  angry: "\u{1F620}",
  surprised: "\u{1F62E}",
  fearful: "\u{1F628}",
  disgusted: "\u{1F922}",
};
const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

const $ = (id) => document.getElementById(id);
const ui = {
  main: $("main"),
  status: $("status"),
  start: $("start"),
  mute: $("mute"),
  cameraSwitch: $("camera-switch"),
  languages: $("languages"),
  langA: $("lang-a"),
  langB: $("lang-b"),
  langSwap: $("lang-swap"),
  simultaneous: $("simultaneous"),
  hint: $("hint"),
  preview: $("preview"),
  placeholder: $("camera-placeholder"),
  emotion: $("emotion"),
  speaking: $("speaking"),
  notice: $("notice"),
  tutorPanel: $("tutor-panel"),
  problem: $("problem"),
  steps: $("steps"),
  check: $("check"),
  interpreterPanel: $("interpreter-panel"),
  conversation: $("conversation"),
  explainerPanel: $("explainer-panel"),
  observations: $("observations"),
  captions: $("captions"),
  toasts: $("toasts"),
  audio: $("assistant-audio"),
};

const state = {
  scenario: "tutor",
  facing: DEFAULT_FACING.tutor,
  facingChosen: false, // the user pressed the switch: keep their choice across scenarios
  phase: "idle", // idle | starting | connecting | connected | reconnecting | error
  stream: null,
  micTrack: null,
  camTrack: null,
  pc: null,
  dc: null,
  videoSender: null,
  videoCeiling: null, // session.video.ceiling: how much camera video the server uses
  callUrl: null,
  callId: null, // what a reconnection resumes
  audioWatch: null,
  run: 0, // bumped by Stop: every await in a stale run gives up
  reconnecting: false,
  disconnectTimer: null,
  health: null,
  wakeLock: null,
  userSpeaking: false,
  assistantSpeaking: false,
  busyTimer: null,
};

// Recent events, for debugging from the console (and from tests on failure).
const events = [];
const phases = [];
window.omnilive = {
  events,
  phases,
  renderMath,
  state,
  receive: (event) => onServerEvent(JSON.stringify(event)),
};

class UserFacingError extends Error {
  constructor(message, { kind = "error", retryAfter = null, title = null } = {}) {
    super(message);
    this.kind = kind;
    this.retryAfter = retryAfter;
    this.title = title;
  }
}

// ---------------------------------------------------------------- small UI helpers

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setPhase(phase, text) {
  state.phase = phase;
  phases.push(phase);
  if (phases.length > 100) phases.shift();
  ui.status.dataset.state = phase;
  ui.status.textContent = text;
  ui.main.dataset.call = phase;
  const live = phase !== "idle" && phase !== "error";
  ui.start.dataset.action = live ? "stop" : "start";
  ui.start.textContent = live ? "Stop" : "Start";
  ui.start.setAttribute("aria-label", live ? "Stop the call" : "Start a call");
  ui.mute.disabled = !live;
  document.body.classList.toggle("in-call", live);
}

function showNotice(text, kind = "error") {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = !text;
}

function clearNotice() {
  clearInterval(state.busyTimer);
  state.busyTimer = null;
  showNotice("");
}

function toast(text, kind = "info", ms = 5000) {
  const node = el("p", `toast ${kind}`, text);
  ui.toasts.append(node);
  while (ui.toasts.children.length > 3) ui.toasts.firstElementChild.remove();
  setTimeout(() => node.remove(), ms);
}

function trim(list, max) {
  while (list.children.length > max) list.firstElementChild.remove();
}

function scrollToEnd(list) {
  const box = list.parentElement;
  if (box) box.scrollTop = box.scrollHeight;
  list.scrollTop = list.scrollHeight;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function langName(code) {
  return LANG_NAMES[code] ?? code;
}

// ---------------------------------------------------------------- scenario and languages

function selectedScenario() {
  return document.querySelector('input[name="scenario"]:checked')?.value ?? "tutor";
}

function languagePair() {
  return [ui.langA.value || "en", ui.langB.value || "es"];
}

function sessionConfig() {
  const session = { scenario: state.scenario };
  if (state.scenario === "interpreter") {
    session.languages = languagePair();
    // Ours: "simultaneous" speaks while they talk, "turns" after each utterance.
    session.interpretation = ui.simultaneous.checked ? "simultaneous" : "turns";
  }
  return session;
}

function applyScenario() {
  state.scenario = selectedScenario();
  ui.main.dataset.scenario = state.scenario;
  ui.languages.hidden = state.scenario !== "interpreter";
  ui.tutorPanel.hidden = state.scenario !== "tutor";
  ui.interpreterPanel.hidden = state.scenario !== "interpreter";
  ui.explainerPanel.hidden = state.scenario !== "explainer";
  let hint = HINTS[state.scenario] ?? "";
  const available = state.health?.scenarios;
  if (Array.isArray(available) && !available.includes(state.scenario)) {
    hint = `This server cannot run the ${state.scenario} yet.`;
  }
  ui.hint.textContent = hint;
  updateColumnHeads();
}

function fillLanguages() {
  const caps = state.health?.capabilities ?? {};
  const codes = new Set(["en", "es"]);
  for (const pair of caps.translation_pairs ?? []) pair.forEach((c) => codes.add(c));
  const keepA = ui.langA.value || "en";
  const keepB = ui.langB.value || "es";
  for (const select of [ui.langA, ui.langB]) {
    select.replaceChildren(
      ...[...codes].map((code) => {
        const option = el("option", "", langName(code));
        option.value = code;
        return option;
      }),
    );
  }
  ui.langA.value = codes.has(keepA) ? keepA : "en";
  ui.langB.value = codes.has(keepB) ? keepB : "es";
}

function updateColumnHeads() {
  const [a, b] = languagePair();
  $("col-original").textContent = "Original";
  $("col-translation").textContent = "Translation";
  ui.conversation.dataset.pair = `${a}-${b}`;
}

function onLanguageChange(event) {
  const [a, b] = languagePair();
  if (a === b) {
    // Keep the pair valid: the other side takes the language that was given up.
    const other = [...ui.langA.options].map((o) => o.value).find((c) => c !== a) ?? "es";
    if (event.target === ui.langA) ui.langB.value = other;
    else ui.langA.value = other;
  }
  updateColumnHeads();
  sendSessionUpdate();
}

function sendSessionUpdate() {
  if (state.dc?.readyState === "open") {
    state.dc.send(JSON.stringify({ type: "session.update", session: sessionConfig() }));
  }
}

async function loadHealth() {
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    if (response.ok) state.health = await response.json();
  } catch {
    // The server will say what is wrong when a call is started.
  }
  fillLanguages();
  applyScenario();
}

// ---------------------------------------------------------------- media

function videoConstraints(facing) {
  return {
    facingMode: { ideal: facing },
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 15, max: 30 },
  };
}

function mediaTitle(err, what) {
  const name = err?.name ?? "";
  if (name === "NotAllowedError" || name === "SecurityError") return `${what} refused`;
  if (name === "NotFoundError" || name === "OverconstrainedError") return `No ${what.toLowerCase()}`;
  return `${what} unavailable`;
}

function mediaError(err, what) {
  const name = err?.name ?? "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return `${what} access was refused. Allow it for this site in the browser settings, then press Start.`;
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return `No ${what.toLowerCase()} was found.`;
  if (name === "NotReadableError" || name === "AbortError") {
    return `The ${what.toLowerCase()} is busy: close other apps using it and try again.`;
  }
  return `${what} error: ${err?.message ?? err}`;
}

async function openMedia(run) {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw new UserFacingError(
      "This page needs a secure connection (HTTPS, or localhost) to use the microphone and camera.",
      { kind: "media", title: "Needs HTTPS" },
    );
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: AUDIO_CONSTRAINTS,
      video: videoConstraints(state.facing),
    });
  } catch (err) {
    // Try the microphone alone, to tell a refused camera from a refused microphone.
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: AUDIO_CONSTRAINTS });
    } catch (micErr) {
      throw new UserFacingError(mediaError(micErr, "Microphone"), {
        kind: "media",
        title: mediaTitle(micErr, "Microphone"),
      });
    }
    if (run === state.run) {
      const why = mediaError(err, "Camera");
      const without = state.scenario === "tutor" ? " The tutor can still help if you say the problem." : "";
      showNotice(`${why} Continuing with voice only.${without}`, "warning");
    }
  }
  if (run !== state.run) {
    // Stop was pressed while the browser was asking: release the devices at once.
    for (const track of stream.getTracks()) track.stop();
    throw new UserFacingError("stopped", { kind: "stopped" });
  }
  state.stream = stream;
  state.micTrack = stream.getAudioTracks()[0] ?? null;
  state.camTrack = stream.getVideoTracks()[0] ?? null;
  if (state.camTrack) tuneCamera(state.camTrack);
  showPreview();
}

function tuneCamera(track) {
  // Homework needs sharp text more than smooth motion.
  if ("contentHint" in track) track.contentHint = state.scenario === "tutor" ? "detail" : "motion";
}

// The server says how much camera video the scenario uses (session.video.ceiling);
// sending no more saves the phone's battery and data and the server's decoding.
async function applyVideoCeiling(session) {
  const ceiling = session?.video?.ceiling;
  if (ceiling) state.videoCeiling = ceiling;
  const sender = state.videoSender;
  const wanted = state.videoCeiling;
  if (!sender || !sender.track || !wanted) return;
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) return; // not negotiated yet
  const height = sender.track.getSettings().height ?? wanted.max_height;
  for (const encoding of params.encodings) {
    encoding.active = wanted.max_fps > 0;
    if (wanted.max_fps > 0) {
      encoding.maxFramerate = wanted.max_fps;
      encoding.maxBitrate = wanted.max_bitrate;
      encoding.scaleResolutionDownBy = Math.max(1, height / wanted.max_height);
    }
  }
  try {
    await sender.setParameters(params);
  } catch (err) {
    console.warn("the video ceiling could not be applied", err);
  }
}

function showPreview() {
  const has = Boolean(state.camTrack);
  ui.preview.srcObject = has ? new MediaStream([state.camTrack]) : null;
  ui.preview.classList.toggle("mirrored", has && state.facing === "user");
  ui.placeholder.hidden = has;
  ui.preview.hidden = !has;
  if (has) ui.preview.play().catch(() => {});
}

function stopMedia() {
  for (const track of state.stream?.getTracks() ?? []) track.stop();
  state.camTrack?.stop();
  state.stream = null;
  state.micTrack = null;
  state.camTrack = null;
  ui.preview.srcObject = null;
  ui.preview.hidden = true;
  ui.placeholder.hidden = false;
}

async function switchCamera() {
  state.facing = state.facing === "user" ? "environment" : "user";
  state.facingChosen = true;
  const label = state.facing === "user" ? "Front camera" : "Rear camera";
  ui.cameraSwitch.dataset.facing = state.facing;
  if (!state.stream) {
    toast(`${label} selected`);
    return;
  }
  await reopenCamera(label);
}

async function reopenCamera(label) {
  const old = state.camTrack;
  // Phones often cannot open both cameras at once: release the old one first.
  if (old) {
    old.stop();
    state.stream.removeTrack(old);
  }
  try {
    const fresh = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(state.facing) });
    const track = fresh.getVideoTracks()[0];
    tuneCamera(track);
    state.stream.addTrack(track);
    state.camTrack = track;
    if (state.videoSender) {
      await state.videoSender.replaceTrack(track);
      await applyVideoCeiling(null); // the new camera may have another size
    }
    showPreview();
    if (label) toast(label);
  } catch (err) {
    state.camTrack = null;
    showPreview();
    toast(mediaError(err, "Camera"), "error");
  }
}

function toggleMute() {
  if (!state.micTrack) return;
  state.micTrack.enabled = !state.micTrack.enabled;
  const muted = !state.micTrack.enabled;
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.classList.toggle("active", muted);
  ui.mute.setAttribute("aria-label", muted ? "Unmute microphone" : "Mute microphone");
  toast(muted ? "Microphone muted" : "Microphone on");
}

// ---------------------------------------------------------------- the call

async function readError(response) {
  let message = `The server answered ${response.status}.`;
  let code = "";
  try {
    const body = await response.json();
    message = body?.error?.message ?? message;
    code = body?.error?.code ?? "";
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) {
    return new UserFacingError(
      "This server needs an API key: open this page as /#key=YOUR_KEY.",
      { kind: "refused" },
    );
  }
  if (response.status === 404 && code === "call_not_resumable") {
    return new UserFacingError(
      "The call could not be resumed: it ended, or the network was gone too long. Press Start for a new call.",
      { kind: "expired" },
    );
  }
  if (response.status === 429 || response.status === 503) {
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    return new UserFacingError("The server is busy.", {
      kind: "busy",
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : 5,
    });
  }
  return new UserFacingError(code ? `${message} (${code})` : message, { kind: "refused" });
}

function waitForOpen(pc, dc, run, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new UserFacingError("Could not connect: no answer from the network.", { kind: "network" })), timeoutMs);
    const done = (fn, arg) => {
      clearTimeout(timer);
      dc.removeEventListener("open", onOpen);
      pc.removeEventListener("connectionstatechange", onState);
      fn(arg);
    };
    const onOpen = () => done(resolve);
    const onState = () => {
      if (run !== state.run) done(reject, new UserFacingError("stopped", { kind: "stopped" }));
      else if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        done(reject, new UserFacingError("Could not connect: the network path failed.", { kind: "network" }));
      }
    };
    dc.addEventListener("open", onOpen);
    pc.addEventListener("connectionstatechange", onState);
  });
}

// One attempt: new peer connection, offer, POST, answer, wait for the data channel.
// `resume`: the id of the dropped call this one goes on with.
async function connect(run, { resume = null } = {}) {
  const timeoutMs = resume ? RECONNECT_TIMEOUT_MS : CONNECT_TIMEOUT_MS;
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver(state.micTrack, { direction: "sendrecv", streams: [state.stream] });
  state.videoSender = state.camTrack
    ? pc.addTransceiver(state.camTrack, { direction: "sendonly", streams: [state.stream] }).sender
    : null;
  const dc = pc.createDataChannel("oai-events");
  state.dc = dc;
  dc.addEventListener("message", (e) => {
    if (pc === state.pc) onServerEvent(e.data);
  });
  dc.addEventListener("close", () => {
    if (pc === state.pc && state.phase === "connected") networkLost("the call was closed");
  });
  pc.addEventListener("track", (e) => {
    if (e.track.kind !== "audio") return;
    ui.audio.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    ui.audio.play().catch(() => needTapForAudio());
  });
  pc.addEventListener("connectionstatechange", () => onConnectionState(pc));

  await pc.setLocalDescription(await pc.createOffer());
  if (run !== state.run) {
    pc.close();
    throw new UserFacingError("stopped", { kind: "stopped" });
  }
  const form = new FormData();
  form.append("sdp", pc.localDescription.sdp);
  const session = sessionConfig();
  if (resume) session.resume = resume;
  form.append("session", JSON.stringify(session));
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    // The call to resume in the URL too: a load balancer routes it to the call's gateway.
    const url = resume ? `${CALLS_URL}?resume=${encodeURIComponent(resume)}` : CALLS_URL;
    response = await fetch(url, { method: "POST", body: form, headers: AUTH, signal: abort.signal });
  } catch {
    throw new UserFacingError("Cannot reach the server. Check the network connection.", { kind: "network" });
  } finally {
    clearTimeout(timer);
  }
  if (response.status !== 201) throw await readError(response);
  const location = response.headers.get("Location");
  const callUrl = location ? new URL(location, window.location.href).href : null;
  if (run !== state.run) {
    // Stopped while the server was answering: hang up the call it just made.
    if (callUrl) fetch(callUrl, { method: "DELETE", headers: AUTH, keepalive: true }).catch(() => {});
    pc.close();
    throw new UserFacingError("stopped", { kind: "stopped" });
  }
  state.callUrl = callUrl;
  state.callId = location ? location.split("/").pop() : null;
  const answer = await response.text();
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  await waitForOpen(pc, dc, run, timeoutMs);
}

// `keepCall`: the network went, not the user: no DELETE, so the call can be resumed.
function hangUp({ keepCall = false } = {}) {
  const url = state.callUrl;
  state.callUrl = null;
  if (!keepCall) state.callId = null;
  clearInterval(state.audioWatch);
  state.audioWatch = null;
  if (url && !keepCall) fetch(url, { method: "DELETE", headers: AUTH, keepalive: true }).catch(() => {});
  const pc = state.pc;
  state.pc = null;
  state.dc = null;
  state.videoSender = null;
  clearTimeout(state.disconnectTimer);
  if (pc) {
    try {
      pc.close();
    } catch {
      // already closed
    }
  }
}

function onConnectionState(pc) {
  if (pc !== state.pc) return;
  const s = pc.connectionState;
  if (s === "connected") {
    clearTimeout(state.disconnectTimer);
    if (state.phase === "reconnecting" && !state.reconnecting) setPhase("connected", "Connected");
  } else if (s === "disconnected" && state.phase === "connected") {
    setPhase("reconnecting", "Network unstable\u2026");
    clearTimeout(state.disconnectTimer);
    // ICE often recovers by itself within a few seconds; if not, call again.
    state.disconnectTimer = setTimeout(() => {
      if (pc === state.pc && pc.connectionState !== "connected") networkLost("ICE disconnected");
    }, DISCONNECT_GRACE_MS);
  } else if (s === "failed" && (state.phase === "connected" || state.phase === "reconnecting")) {
    networkLost("ICE failed");
  }
}

async function start() {
  const run = ++state.run;
  clearNotice();
  state.scenario = selectedScenario();
  setPhase("starting", "Starting microphone\u2026");
  try {
    await openMedia(run);
    setPhase("connecting", "Connecting\u2026");
    await connect(run);
    if (run !== state.run) return;
    onConnected();
  } catch (err) {
    if (run !== state.run) return;
    fail(err);
  }
}

function onConnected() {
  setPhase("connected", "Connected");
  requestWakeLock();
  watchAudio(state.pc);
}

// ICE notices a dead path only after seconds of silence (and aiortc never restarts ICE):
// the server's audio, which never stops, says sooner that the path is gone.
function watchAudio(pc) {
  clearInterval(state.audioWatch);
  let packets = -1;
  let lastAt = Date.now();
  state.audioWatch = setInterval(async () => {
    if (pc !== state.pc || state.phase !== "connected") return;
    let received = packets;
    try {
      for (const report of (await pc.getStats()).values()) {
        if (report.type === "inbound-rtp" && report.kind === "audio") received = report.packetsReceived;
      }
    } catch {
      return;
    }
    if (received !== packets) {
      packets = received;
      lastAt = Date.now();
    } else if (Date.now() - lastAt > AUDIO_STALL_MS && pc === state.pc) {
      networkLost("no audio from the server");
    }
  }, 1000);
}

function fail(err) {
  hangUp();
  stopMedia();
  releaseWakeLock();
  const e = err instanceof UserFacingError ? err : new UserFacingError(`Something went wrong: ${err?.message ?? err}`);
  if (e.kind === "stopped") return;
  if (e.kind === "busy") {
    setPhase("error", "Server busy");
    busyCountdown(e.retryAfter);
  } else if (e.kind === "media") {
    setPhase("error", e.title ?? "Microphone unavailable");
    showNotice(e.message);
  } else if (e.kind === "network" || e.kind === "expired") {
    setPhase("error", "Network lost");
    showNotice(e.message);
  } else {
    setPhase("error", "Call refused");
    showNotice(e.message);
  }
}

function busyCountdown(seconds) {
  clearInterval(state.busyTimer);
  let left = Math.max(0, seconds | 0);
  const render = () => {
    showNotice(
      left > 0
        ? `The server is busy with other calls. Try again in ${left} s.`
        : "The server was busy. You can try again now.",
      "busy",
    );
  };
  render();
  state.busyTimer = setInterval(() => {
    left -= 1;
    render();
    if (left <= 0) {
      clearInterval(state.busyTimer);
      state.busyTimer = null;
    }
  }, 1000);
}

// The network went away mid-call: call again, resuming the same call (the server keeps
// its conversation: the tutor's problem and step, the interpreter's pair), with backoff.
async function networkLost(reason) {
  if (state.reconnecting || state.phase === "idle" || state.phase === "error") return;
  state.reconnecting = true;
  const run = state.run;
  console.warn("omnilive: reconnecting:", reason);
  hangUp({ keepCall: true });
  showNotice("The network dropped. Reconnecting\u2026 the conversation goes on where it was.", "info");
  const deadline = Date.now() + RESUME_WINDOW_MS;
  let delay = 500;
  let attempt = 0;
  let lastError = null;
  while (Date.now() < deadline) {
    attempt += 1;
    setPhase("reconnecting", `Reconnecting\u2026 (attempt ${attempt})`);
    await sleep(delay + Math.random() * 250);
    if (run !== state.run) break;
    try {
      const resumed = state.callId !== null;
      await connect(run, { resume: state.callId });
      if (run !== state.run) break;
      state.reconnecting = false;
      clearNotice();
      onConnected();
      toast(resumed ? "Reconnected: the conversation goes on" : "Reconnected with a new call");
      return;
    } catch (err) {
      lastError = err;
      hangUp({ keepCall: true });
      if (run !== state.run) break;
      if (err?.kind === "expired" && state.callId !== null) {
        // The server ended the call for good (hung up, or kept it too long): the next
        // attempt is a new call with the same choices; the conversation starts over.
        state.callId = null;
        showNotice("The call could not be resumed: starting a new one\u2026", "info");
        delay = 0;
        continue;
      }
      if (err?.kind === "expired" || err?.kind === "refused") break;
      delay = err?.kind === "busy" ? 1000 * (err.retryAfter ?? 5) : Math.min(delay * 2, 4000);
    }
  }
  state.reconnecting = false;
  if (run !== state.run) return;
  fail(
    lastError?.kind === "busy" || lastError?.kind === "expired"
      ? lastError
      : new UserFacingError("The network was lost and the call could not be resumed. Press Start to try again.", { kind: "network" }),
  );
}

function stop() {
  state.run += 1;
  state.reconnecting = false;
  hangUp();
  stopMedia();
  releaseWakeLock();
  setSpeaking(false, false);
  ui.emotion.hidden = true;
  clearNotice();
  setPhase("idle", "Call ended");
}

function needTapForAudio() {
  toast("Tap anywhere to hear the assistant.", "info", 8000);
  document.addEventListener("pointerdown", () => ui.audio.play().catch(() => {}), { once: true });
}

async function requestWakeLock() {
  try {
    if ("wakeLock" in navigator && document.visibilityState === "visible") {
      state.wakeLock = await navigator.wakeLock.request("screen");
    }
  } catch {
    // not allowed (battery saver, old browser): the call works anyway
  }
}

function releaseWakeLock() {
  state.wakeLock?.release().catch(() => {});
  state.wakeLock = null;
}

// ---------------------------------------------------------------- server events

function onServerEvent(raw) {
  let event;
  try {
    event = JSON.parse(raw);
  } catch {
    return;
  }
  events.push(event);
  if (events.length > 300) events.shift();
  const handler = HANDLERS[event.type];
  if (handler) handler(event);
}

function setSpeaking(user, assistant) {
  state.userSpeaking = user;
  state.assistantSpeaking = assistant;
  const text = user ? "Listening\u2026" : assistant ? "Assistant speaking\u2026" : "";
  ui.speaking.textContent = text;
  ui.speaking.dataset.who = user ? "user" : "assistant";
  ui.speaking.hidden = !text;
}

function caption(who, key, text, lang) {
  let item = key ? ui.captions.querySelector(`li[data-key="${CSS.escape(key)}"]`) : null;
  if (!item) {
    item = el("li", `caption ${who}`);
    if (key) item.dataset.key = key;
    item.append(el("span", "who", who === "user" ? "You" : "Assistant"), el("span", "text"));
    ui.captions.append(item);
    trim(ui.captions, MAX_CAPTIONS);
  }
  item.querySelector(".text").textContent = text;
  if (lang) item.lang = lang;
  scrollToEnd(ui.captions);
  return item;
}

function appendDelta(responseId, delta) {
  const key = `r:${responseId}`;
  const item = ui.captions.querySelector(`li[data-key="${CSS.escape(key)}"]`);
  const before = item?.querySelector(".text").textContent ?? "";
  caption("assistant", key, before + delta);
}

function showProblem(e) {
  ui.problem.replaceChildren();
  ui.steps.replaceChildren();
  ui.check.hidden = true;
  const head = el("p", "problem-kind", (e.kind ?? "problem").replace(/_/g, " "));
  const math = renderMath(e.text ?? "");
  math.classList.add("display");
  ui.problem.append(math, head);
  ui.tutorPanel.hidden = false;
}

function showStep(e) {
  const index = Number(e.index ?? ui.steps.children.length);
  let item = ui.steps.querySelector(`li[data-index="${index}"]`);
  if (!item) {
    item = el("li", "step");
    item.dataset.index = String(index);
    const later = [...ui.steps.children].find((li) => Number(li.dataset.index) > index);
    ui.steps.insertBefore(item, later ?? null);
  }
  item.replaceChildren(el("p", "step-text", e.text ?? ""));
  if (e.math) {
    const math = renderMath(e.math);
    math.classList.add("display");
    item.append(math);
  }
  item.classList.toggle("final", Boolean(e.final));
  if (e.final) item.prepend(el("span", "badge", "Answer"));
  item.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function showCheck(e) {
  ui.check.replaceChildren();
  ui.check.dataset.correct = String(Boolean(e.correct));
  ui.check.append(el("span", "mark", e.correct ? "\u2713" : "\u2717"));
  if (e.student) ui.check.append(renderMath(e.student));
  ui.check.append(el("span", "feedback", e.feedback ?? ""));
  ui.check.hidden = false;
}

function showEmotion(e) {
  if (!e.label || e.label === "none" || e.faces === 0) {
    ui.emotion.hidden = true;
    return;
  }
  ui.emotion.dataset.label = e.label;
  ui.emotion.textContent = `${EMOTIONS[e.label] ?? ""} ${e.label}`.trim();
  ui.emotion.title = typeof e.score === "number" ? `${e.label} (${Math.round(e.score * 100)}%)` : e.label;
  ui.emotion.hidden = false;
}

function showTranslation(e) {
  const row = el("li", "turn");
  if (e.item_id) row.dataset.item = e.item_id;
  const original = el("div", "original");
  original.lang = e.source_language ?? "";
  original.append(el("span", "lang", e.source_language ?? ""), el("span", "said", e.source_text ?? ""));
  const translated = el("div", "translation");
  translated.lang = e.target_language ?? "";
  translated.append(el("span", "lang", e.target_language ?? ""), el("span", "said", e.text ?? ""));
  row.append(original, translated);
  const existing = e.item_id ? ui.conversation.querySelector(`li[data-item="${CSS.escape(e.item_id)}"]`) : null;
  if (existing) existing.replaceWith(row);
  else ui.conversation.append(row);
  trim(ui.conversation, MAX_ROWS);
  scrollToEnd(ui.conversation);
}

function showObservation(e) {
  ui.observations.append(el("li", "observation", e.text ?? ""));
  trim(ui.observations, MAX_ROWS);
  scrollToEnd(ui.observations);
}

function showError(e) {
  const err = e.error ?? {};
  console.warn("omnilive error event", err);
  toast(err.message ? err.message : `Error: ${err.code ?? "unknown"}`, "error", 6000);
}

const HANDLERS = {
  "session.created": (e) => applyVideoCeiling(e.session),
  "session.updated": (e) => applyVideoCeiling(e.session),
  "input_audio_buffer.speech_started": () => setSpeaking(true, false),
  "input_audio_buffer.speech_stopped": () => setSpeaking(false, state.assistantSpeaking),
  "conversation.item.input_audio_transcription.completed": (e) => {
    if (e.transcript && e.transcript.trim()) caption("user", `u:${e.item_id}`, e.transcript, e.language);
  },
  "response.output_audio_transcript.delta": (e) => appendDelta(e.response_id, e.delta ?? ""),
  "response.output_audio_transcript.done": (e) => {
    if (e.transcript) caption("assistant", `r:${e.response_id}`, e.transcript);
  },
  "response.done": (e) => {
    const r = e.response ?? {};
    const item = ui.captions.querySelector(`li[data-key="${CSS.escape(`r:${r.id}`)}"]`);
    if (item && r.status === "cancelled") item.classList.add("interrupted");
    setSpeaking(state.userSpeaking, false);
  },
  "output_audio_buffer.started": () => setSpeaking(state.userSpeaking, true),
  "output_audio_buffer.stopped": () => setSpeaking(state.userSpeaking, false),
  "output_audio_buffer.cleared": () => setSpeaking(state.userSpeaking, false),
  "tutor.problem": showProblem,
  "tutor.step": showStep,
  "tutor.check": showCheck,
  "emotion.state": showEmotion,
  "translation.done": showTranslation,
  "explainer.observation": showObservation,
  error: showError,
};

// ---------------------------------------------------------------- wiring

function onScenarioChange() {
  applyScenario();
  if (!state.facingChosen) {
    const wanted = DEFAULT_FACING[state.scenario] ?? "environment";
    if (wanted !== state.facing) {
      state.facing = wanted;
      ui.cameraSwitch.dataset.facing = wanted;
      if (state.stream) reopenCamera(null);
    }
  } else if (state.camTrack) {
    tuneCamera(state.camTrack);
  }
  sendSessionUpdate();
}

ui.start.addEventListener("click", () => {
  if (ui.start.dataset.action === "stop") stop();
  else start();
});
ui.cameraSwitch.addEventListener("click", () => switchCamera());
ui.mute.addEventListener("click", toggleMute);
for (const input of document.querySelectorAll('input[name="scenario"]')) {
  input.addEventListener("change", onScenarioChange);
}
ui.langA.addEventListener("change", onLanguageChange);
ui.simultaneous.addEventListener("change", sendSessionUpdate);
ui.langB.addEventListener("change", onLanguageChange);
ui.langSwap.addEventListener("click", () => {
  const [a, b] = languagePair();
  ui.langA.value = b;
  ui.langB.value = a;
  updateColumnHeads();
  sendSessionUpdate();
});
window.addEventListener("online", () => {
  if (state.phase === "reconnecting" && state.pc?.connectionState !== "connected") networkLost("back online");
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.phase === "connected" && !state.wakeLock) requestWakeLock();
});
window.addEventListener("pagehide", () => {
  // The server also notices a vanished peer, but a DELETE frees the call at once.
  if (state.callUrl) hangUp();
});

ui.cameraSwitch.dataset.facing = state.facing;
fillLanguages();
applyScenario();
setPhase("idle", "Ready");
loadHealth();
