// The arena page: one battle at a time, streamed over a websocket that only relays,
// with prompts and votes sent as CSRF-protected POSTs.
import { renderMarkdown } from "./markdown.js";

const SIDES = ["a", "b"];
const root = document.getElementById("arena");
const $ = (id) => document.getElementById(id);
const promptBox = $("prompt");
const sendButton = $("send");
const newRoundButton = $("new-round");
const notice = $("notice");
const voteButtons = [...document.querySelectorAll("#vote button")];
const maxTurns = Number(root.dataset.maxTurns || 6);
const maxPromptChars = Number(root.dataset.maxPromptChars || 8000);

let battle = null;   // the server's view of the battle, with chunks merged in
let socket = null;
let pendingEvents = null; // events that arrive while the state is being (re)fetched
let reconnectDelay = 500;
let busy = false;
const renderQueued = new Set();
const STORAGE_KEY = "arena.battle";
const WATCHDOG_MS = 20000; // while waiting, ask the server now and then: it fails answers whose worker is gone

// Why a vote will not count, told before the vote (arena.selectors.vote_notice).
const VOTE_NOTICES = {
  identity_leak: "an answer named a model, so the battle is no longer blind.",
  incomplete_answer: "an answer was cut off or did not finish.",
};

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch { /* an empty or non-JSON body */ }
  if (!response.ok) {
    const error = new Error(data.error || `The server answered ${response.status}.`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function showNotice(message, kind = "error") {
  notice.textContent = message;
  notice.dataset.kind = kind;
  notice.hidden = !message;
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

// ---- state merging -------------------------------------------------------

function answer(turnIndex, side) {
  const turn = battle && battle.turns.find((t) => t.index === turnIndex);
  return turn ? turn.answers[side] : null;
}

function applyEvent(event) {
  if (!battle) return;
  if (event.type === "chunk") {
    const a = answer(event.turn, event.side);
    if (!a || a.status === "done" || a.status === "failed") return;
    const seq = a.seq || 0;
    if (event.seq <= seq) return;            // already have it (from the fetched state)
    if (event.seq > seq + 1) { resync(); return; } // missed something: fetch what was persisted
    a.text += event.text;
    a.seq = event.seq;
    a.status = "streaming";
    queueRender(event.side);
  } else if (event.type === "side_done") {
    const a = answer(event.turn, event.side);
    if (!a) return;
    Object.assign(a, { status: event.status, text: event.text, error: event.error, seq: null });
    battle.status = event.battle_status;
    if (event.vote_notice !== undefined) battle.vote_notice = event.vote_notice;
    render();
  } else if (event.type === "identity_leak") {
    battle.vote_notice = battle.vote_notice || "identity_leak";
    renderControls();
  }
}

async function resync() {
  if (!battle || pendingEvents) return;
  pendingEvents = [];
  try {
    const fresh = await api("GET", `/api/battles/${battle.id}`);
    if (battle && fresh.id === battle.id) battle = fresh;
  } catch (error) {
    showNotice(error.message);
  } finally {
    const events = pendingEvents || [];
    pendingEvents = null;
    events.forEach(applyEvent);
    render();
  }
}

// ---- websocket -----------------------------------------------------------

function connect() {
  if (!battle) return;
  const id = battle.id;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/battles/${id}/`);
  socket = ws;
  ws.addEventListener("open", () => {
    reconnectDelay = 500;
    resync(); // the socket is live: anything sent from now on arrives, so fetch what came before
  });
  ws.addEventListener("message", (message) => {
    if (!battle || battle.id !== id) return;
    const event = JSON.parse(message.data);
    if (pendingEvents) pendingEvents.push(event); else applyEvent(event);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws || !battle || battle.id !== id) return;
    socket = null;
    if (battle.status === "generating") {
      setTimeout(() => { if (battle && battle.id === id && !socket) connect(); }, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 8000);
    }
  });
}

function disconnect() {
  const ws = socket;
  socket = null;
  if (ws) ws.close();
}

// ---- rendering -----------------------------------------------------------

function queueRender(side) {
  if (renderQueued.size === 0) requestAnimationFrame(flushRenders);
  renderQueued.add(side);
}

function flushRenders() {
  const sides = [...renderQueued];
  renderQueued.clear();
  sides.forEach(renderPane);
  renderControls();
}

function renderPane(side) {
  const box = $(`conversation-${side}`);
  box.replaceChildren();
  if (!battle) return;
  for (const turn of battle.turns) {
    const prompt = document.createElement("div");
    prompt.className = "msg user";
    prompt.textContent = turn.prompt;
    const reply = document.createElement("div");
    const a = turn.answers[side];
    reply.className = `msg model ${a.status}`;
    reply.append(renderMarkdown(a.text));
    if (a.status === "pending" || (a.status === "streaming" && !a.text)) {
      reply.classList.add("waiting");
      reply.setAttribute("aria-label", "Waiting for the answer");
    }
    box.append(prompt, reply);
  }
  box.setAttribute("aria-busy", String(battle.status === "generating"));
  box.scrollTop = box.scrollHeight;
}

function sideStatus(side) {
  if (!battle) return "";
  const last = battle.turns[battle.turns.length - 1];
  const a = last.answers[side];
  if (a.status === "pending") return "Waiting…";
  if (a.status === "streaming") return "Answering…";
  if (a.status === "failed") return a.error || "Failed to answer.";
  return "Done";
}

function failedSides() {
  if (!battle) return [];
  const last = battle.turns[battle.turns.length - 1];
  return SIDES.filter((s) => last.answers[s].status === "failed");
}

function render() {
  SIDES.forEach(renderPane);
  renderControls();
}

function renderControls() {
  const status = battle ? battle.status : "idle";
  root.dataset.state = status;
  const failed = failedSides();
  SIDES.forEach((side) => {
    $(`status-${side}`).textContent = sideStatus(side);
    $(`retry-${side}`).hidden = !failed.includes(side);
    $(`retry-${side}`).disabled = busy;
    const model = battle && battle.models ? battle.models[side] : null;
    $(`name-${side}`).textContent = model ? `· ${model.name}` : "";
  });
  const turns = battle ? battle.turns.length : 0;
  const voted = status === "voted";
  voteButtons.forEach((b) => {
    b.disabled = busy || status !== "ready";
    b.setAttribute("aria-pressed", String(voted && battle.vote === b.dataset.outcome));
  });
  const canPrompt = !busy && (status === "idle" || (status === "ready" && turns < maxTurns));
  promptBox.disabled = !canPrompt;
  sendButton.disabled = !canPrompt;
  document.querySelectorAll('input[name="mode"], #pickers select').forEach((input) => { input.disabled = status !== "idle"; });
  newRoundButton.hidden = status === "idle";
  const notice = $("vote-notice");
  const why = battle && status !== "voted" ? VOTE_NOTICES[battle.vote_notice] : undefined;
  notice.hidden = !why;
  notice.textContent = why ? `This vote will be recorded but not counted toward the leaderboard: ${why}` : "";
  const help = $("prompt-help");
  if (status === "idle") help.textContent = "";
  else if (status === "generating") help.textContent = "Both models are answering…";
  else if (status === "ready") help.textContent = turns < maxTurns
    ? `Vote, or ask a follow-up (${turns} of ${maxTurns} turns).`
    : `This battle has reached its limit of ${maxTurns} turns; please vote.`;
  else if (voted) help.textContent = "Thanks for voting! Start a new round to keep going.";
  else if (status === "failed") help.textContent = "";
  if (status === "failed") {
    const names = failedSides().map((s) => `Model ${s.toUpperCase()}`).join(" and ");
    showNotice(`${names} failed to answer. Retry it, or start a new round.`);
  } else if (voted) {
    const [a, b] = SIDES.map((s) => battle.models[s].name);
    const counted = battle.mode !== "anonymous" ? " Side-by-side votes do not count toward the leaderboard."
      : VOTE_NOTICES[battle.vote_notice] ? ` This vote does not count toward the leaderboard: ${VOTE_NOTICES[battle.vote_notice]}` : "";
    showNotice(`Model A was ${a}; Model B was ${b}.${counted}`, "info");
  }
}

// ---- actions -------------------------------------------------------------

async function send(event) {
  event.preventDefault();
  const prompt = promptBox.value.trim();
  if (!prompt) { showNotice("Enter a prompt."); promptBox.focus(); return; }
  if (prompt.length > maxPromptChars) { showNotice(`The prompt is longer than ${maxPromptChars} characters.`); return; }
  busy = true;
  renderControls();
  showNotice("");
  try {
    if (!battle) {
      const body = { prompt, mode: mode() };
      if (body.mode === "side_by_side") Object.assign(body, { model_a: $("pick-a").value, model_b: $("pick-b").value });
      battle = await api("POST", "/api/battles", body);
      remember(battle.id);
      promptBox.value = "";
      busy = false;
      render();
      connect();
    } else {
      battle = await api("POST", `/api/battles/${battle.id}/turns`, { prompt });
      promptBox.value = "";
      busy = false;
      render();
      if (!socket) connect();
    }
  } catch (error) {
    busy = false;
    showNotice(error.message);
    renderControls();
  }
}

// A POST about the current battle: the controls wait while it runs; a 409 means this page is behind the
// server, so it re-reads the battle.
async function battleAction(work) {
  busy = true;
  renderControls();
  try {
    await work();
  } catch (error) {
    showNotice(error.message);
    if (error.status === 409) await resync();
  } finally {
    busy = false;
    render();
  }
}

// One side failed: ask that model again; the other side's answer stays.
async function retry(side) {
  if (!battle) return;
  showNotice("");
  await battleAction(async () => {
    battle = await api("POST", `/api/battles/${battle.id}/retry`, { side });
    if (!socket) connect();
  });
}

// ---- the human check before a vote (arena/human_check.py) -----------------------------------------

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) { bits += 8; continue; }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

async function solveProofOfWork() {
  const challenge = await api("GET", "/api/human-check");
  const encoder = new TextEncoder();
  for (let nonce = 0; ; nonce++) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${challenge.token}:${nonce}`));
    if (leadingZeroBits(new Uint8Array(digest)) >= challenge.bits) return { token: challenge.token, nonce: String(nonce) };
  }
}

async function humanProof() {
  const kind = root.dataset.humanCheck;
  if (!kind) return undefined;
  if (kind === "pow") return solveProofOfWork();
  const field = document.querySelector(`[name="${root.dataset.humanCheckField}"]`);
  return { token: field ? field.value : "" };
}

async function vote(outcome) {
  if (!battle || battle.status !== "ready") return;
  await battleAction(async () => {
    const human_check = await humanProof();
    const result = await api("POST", `/api/battles/${battle.id}/vote`, { outcome, human_check });
    battle.status = "voted";
    battle.vote = result.outcome;
    battle.models = result.models;
    remember(null);
    disconnect();
  });
  newRoundButton.focus();
}

function remember(id) {
  try {
    if (id) sessionStorage.setItem(STORAGE_KEY, id); else sessionStorage.removeItem(STORAGE_KEY);
  } catch { /* storage disabled: a reload simply starts a new round */ }
}

// After a reload, pick the unfinished battle back up: the answers keep streaming on the server.
async function restore() {
  let id = null;
  try { id = sessionStorage.getItem(STORAGE_KEY); } catch { return; }
  if (!id) return;
  try {
    const state = await api("GET", `/api/battles/${id}`);
    if (state.status === "voted") { remember(null); return; }
    battle = state;
    document.querySelector(`input[name="mode"][value="${state.mode}"]`).checked = true;
    render();
    connect();
  } catch {
    remember(null);
  }
}

function newRound() {
  remember(null);
  disconnect();
  battle = null;
  busy = false;
  showNotice("");
  render();
  promptBox.focus();
}

setInterval(() => { if (battle && battle.status === "generating" && !pendingEvents) resync(); }, WATCHDOG_MS);
$("composer").addEventListener("submit", send);
promptBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
voteButtons.forEach((b) => b.addEventListener("click", () => vote(b.dataset.outcome)));
document.querySelectorAll("button.retry").forEach((b) => b.addEventListener("click", () => retry(b.dataset.side)));
newRoundButton.addEventListener("click", newRound);
document.querySelectorAll('input[name="mode"]').forEach((input) =>
  input.addEventListener("change", () => { $("pickers").hidden = mode() !== "side_by_side"; }));
render();
restore();
