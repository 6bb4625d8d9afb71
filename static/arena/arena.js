// The arena page: one battle at a time, streamed over a websocket that only relays,
// with prompts and votes sent as CSRF-protected POSTs.
import { gettext, interpolate, ngettext } from "./i18n.js";
import { renderMarkdown, wireCopy } from "./markdown.js";

const SIDES = ["a", "b"];
const root = document.getElementById("arena");
const $ = (id) => document.getElementById(id);
const promptBox = $("prompt");
const sendButton = $("send");
const newRoundButton = $("new-round");
const stopButton = $("stop");
const notice = $("notice");
const voteButtons = [...document.querySelectorAll("#vote button")];
const maxTurns = Number(root.dataset.maxTurns || 6);
const maxPromptChars = Number(root.dataset.maxPromptChars || 8000);
const minVoteSeconds = Number(root.dataset.minVoteSeconds || 0);
const promptCount = $("prompt-count");
const FOLLOW_SLACK_PX = 24; // this close to the bottom counts as "at the bottom": the pane keeps following the stream

let battle = null;   // the server's view of the battle, with chunks merged in
let socket = null;
let pendingEvents = null; // events that arrive while the state is being (re)fetched
let reconnectDelay = 500;
let busy = false;
let countsAt = 0;   // when a vote on the current battle starts to count (ms since the epoch; 0: it does now)
let countdown = null;
const renderQueued = new Set();
const STORAGE_KEY = "arena.battle";
const WATCHDOG_MS = 20000; // while waiting, ask the server now and then: it fails answers whose worker is gone

// Keys for the four votes (announced beside the buttons; never while typing in a field).
const VOTE_KEYS = { 1: "a", 2: "b", 3: "tie", 4: "both_bad" };

// Why a vote will not count, told before the vote (arena.selectors.vote_notice).
const VOTE_NOTICES = {
  identity_leak: gettext("an answer named a model, so the battle is no longer blind."),
  incomplete_answer: gettext("an answer was cut off or did not finish."),
};

// Why a side failed, as the worker stores it (model_adapters/errors.py, each error's user_message): in English,
// shown in the voter's language. Listed here for makemessages; tests/leaderboard/test_i18n_pages.py holds the
// list equal to the adapters' messages.
const gettext_noop = (text) => text;
const FAILURE_MESSAGES = [
  gettext_noop("The model failed to answer."),
  gettext_noop("The model took too long to answer."),
  gettext_noop("The model is receiving too many requests right now."),
  gettext_noop("The arena could not authenticate with the model's provider."),
  gettext_noop("The model's provider rejected the request."),
  gettext_noop("The model's provider refused to answer this prompt."),
  gettext_noop("The model's provider had an error."),
  gettext_noop("This model is not configured correctly."),
];

function failureText(error) {
  if (!error) return gettext("Failed to answer.");
  return FAILURE_MESSAGES.includes(error) ? gettext(error) : error;
}

// "Model A", "Model B": how the page names each side.
function sideName(side) {
  return interpolate(gettext("Model %(side)s"), { side: side.toUpperCase() });
}

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
    const error = new Error(data.error || interpolate(gettext("The server answered %(status)s."), { status: response.status }));
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
    const wasReady = battle.status === "ready";
    battle.status = event.battle_status;
    if (battle.status === "ready" && !wasReady) answersFinished(minVoteSeconds);
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
    if (battle && fresh.id === battle.id) {
      const finished = battle.status !== "ready" && fresh.status === "ready";
      battle = fresh;
      if (finished) answersFinished(fresh.vote_counts_in ?? minVoteSeconds);
    }
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

// Whether the reader is at the bottom of a pane (or it does not scroll): only then does it follow the stream.
function atBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight <= FOLLOW_SLACK_PX;
}

function renderPane(side) {
  const box = $(`conversation-${side}`);
  const follow = atBottom(box);
  const top = box.scrollTop;
  box.replaceChildren();
  if (!battle) return;
  for (const turn of battle.turns) {
    const prompt = document.createElement("div");
    prompt.className = "msg user";
    prompt.dir = "auto"; // a right-to-left prompt reads right to left
    prompt.textContent = turn.prompt;
    const reply = document.createElement("div");
    const a = turn.answers[side];
    reply.className = `msg model ${a.status}`;
    reply.dir = "auto";
    reply.append(renderMarkdown(a.text));

    if (a.status === "pending" || (a.status === "streaming" && !a.text)) {
      reply.classList.add("waiting");
      reply.setAttribute("aria-label", gettext("Waiting for the answer"));
    }
    box.append(prompt, reply);
    if (a.status === "done" && a.text) box.append(copyAnswerButton(a.text));
  }
  box.setAttribute("aria-busy", String(battle.status === "generating"));
  box.scrollTop = follow ? box.scrollHeight : top; // a reader scrolled up to read stays where they are
}

// Under a finished answer: copy its Markdown source.
function copyAnswerButton(text) {
  const row = document.createElement("div");
  row.className = "msg-actions";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-answer secondary";
  copy.textContent = gettext("Copy answer");
  copy.setAttribute("aria-live", "polite");
  wireCopy(copy, () => text);
  row.append(copy);
  return row;
}

function sideStatus(side) {
  if (!battle) return "";
  const last = battle.turns[battle.turns.length - 1];
  const a = last.answers[side];
  if (a.status === "pending") return gettext("Waiting…");
  if (a.status === "streaming") return gettext("Answering…");
  if (a.status === "failed") return failureText(a.error);
  return gettext("Done");
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
    $(`regenerate-${side}`).hidden = status !== "ready";
    $(`regenerate-${side}`).disabled = busy;
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
  sendButton.disabled = !canPrompt || !renderCount();
  document.querySelectorAll('input[name="mode"], #pickers select').forEach((input) => { input.disabled = status !== "idle"; });
  newRoundButton.hidden = status === "idle";
  stopButton.hidden = status !== "generating";
  stopButton.disabled = busy;
  const notice = $("vote-notice");
  const why = battle && status !== "voted" ? VOTE_NOTICES[battle.vote_notice] : undefined;
  const wait = status === "ready" && !why && battle.mode === "anonymous" ? secondsToCount() : 0;
  notice.hidden = !why && !wait;
  notice.textContent = why ? interpolate(gettext("This vote will be recorded but not counted toward the leaderboard: %(why)s"), { why })
    : wait ? interpolate(gettext("Take a moment to read both answers: a vote in the next %(seconds)s s will be recorded but not counted."), { seconds: wait }) : "";
  const help = $("prompt-help");
  if (status === "idle") help.textContent = "";
  else if (status === "generating") help.textContent = answeringText();
  else if (status === "ready") help.textContent = turns < maxTurns
    ? interpolate(ngettext("Vote, or ask a follow-up (%(turns)s of %(max)s turn).", "Vote, or ask a follow-up (%(turns)s of %(max)s turns).", maxTurns), { turns, max: maxTurns })
    : interpolate(ngettext("This battle has reached its limit of %(max)s turn; please vote.", "This battle has reached its limit of %(max)s turns; please vote.", maxTurns), { max: maxTurns });
  else if (voted) help.textContent = gettext("Thanks for voting! Start a new round to keep going.");
  else if (status === "failed") help.textContent = "";
  if (status === "failed") {
    const failed = failedSides();
    showNotice(failed.length === 1
      ? interpolate(gettext("%(model)s failed to answer. Retry it, or start a new round."), { model: sideName(failed[0]) })
      : gettext("Model A and Model B failed to answer. Retry them, or start a new round."));
  } else if (voted) {
    const [a, b] = SIDES.map((s) => battle.models[s].name);
    const counted = battle.mode !== "anonymous" ? gettext("Side-by-side votes do not count toward the leaderboard.")
      : VOTE_NOTICES[battle.vote_notice] ? interpolate(gettext("This vote does not count toward the leaderboard: %(why)s"), { why: VOTE_NOTICES[battle.vote_notice] })
        : battle.too_fast ? interpolate(gettext("This vote came less than %(seconds)s s after the answers finished, so it does not count toward the leaderboard."), { seconds: minVoteSeconds }) : "";
    const reveal = interpolate(gettext("Model A was %(a)s; Model B was %(b)s."), { a, b });
    showNotice(counted ? `${reveal} ${counted}` : reveal, "info");
  }
}

function answeringText() {
  const last = battle.turns[battle.turns.length - 1];
  const going = SIDES.filter((s) => ["pending", "streaming"].includes(last.answers[s].status));
  if (going.length !== 1) return gettext("Both models are answering…");
  const done = SIDES.find((s) => s !== going[0]);
  return interpolate(gettext("%(done)s has finished; %(going)s is still answering…"), { done: sideName(done), going: sideName(going[0]) });
}

// Whole seconds until a vote counts (the too_fast rule), 0 once it does.
function secondsToCount() {
  return Math.max(0, Math.ceil((countsAt - Date.now()) / 1000));
}

// Both answers are in: the prompt box takes the focus back (it lost it while disabled), and votes count after
// ``seconds`` (the server's figure after a reload); the notice counts down until then.
function answersFinished(seconds) {
  countsAt = seconds > 0 ? Date.now() + seconds * 1000 : 0;
  clearInterval(countdown);
  countdown = countsAt ? setInterval(() => {
    if (!secondsToCount()) { clearInterval(countdown); countdown = null; }
    renderControls();
  }, 250) : null;
  const focused = document.activeElement;
  if (!focused || focused === document.body || focused === promptBox) {
    requestAnimationFrame(() => { if (!promptBox.disabled) promptBox.focus(); });
  }
}

// The characters typed against the limit; over it, Send waits and says by how much.
function renderCount() {
  const length = promptBox.value.length;
  const over = length - maxPromptChars;
  promptCount.textContent = over > 0
    ? interpolate(ngettext("%(length)s / %(max)s characters: %(over)s too many, shorten the prompt to send it.", "%(length)s / %(max)s characters: %(over)s too many, shorten the prompt to send it.", over), { length, max: maxPromptChars, over })
    : `${length} / ${maxPromptChars}`;
  promptCount.classList.toggle("over", over > 0);
  return over <= 0;
}

// ---- actions -------------------------------------------------------------

async function send(event) {
  event.preventDefault();
  const prompt = promptBox.value.trim();
  if (!prompt) { showNotice(gettext("Enter a prompt.")); promptBox.focus(); return; }
  if (promptBox.value.length > maxPromptChars) {
    showNotice(interpolate(gettext("The prompt has %(length)s characters; the limit is %(max)s. Shorten it to send it."), { length: promptBox.value.length, max: maxPromptChars }));
    return;
  }
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
    if (!socket) connect(); else await resync(); // events sent before this answer arrived are in the fresh state
  });
}

// Before the vote: ask one side for a new answer to the latest prompt (the vote records that it was regenerated).
async function regenerate(side) {
  if (!battle || battle.status !== "ready") return;
  showNotice("");
  await battleAction(async () => {
    battle = await api("POST", `/api/battles/${battle.id}/regenerate`, { side });
    if (!socket) connect(); else await resync(); // events sent before this answer arrived are in the fresh state
  });
}

// Stop both sides: each keeps what it has written so far (and a vote on it does not count: it is cut off).
async function stop() {
  if (!battle || battle.status !== "generating") return;
  await battleAction(async () => {
    // Not the reply's state: the answers may finish (their events already applied) before it arrives.
    await api("POST", `/api/battles/${battle.id}/stop`);
    await resync();
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
    battle.too_fast = result.too_fast;
    disconnect(); // the battle stays remembered: a reload shows the reveal until a new round
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
    battle = state;
    document.querySelector(`input[name="mode"][value="${state.mode}"]`).checked = true;
    if (state.status === "ready") answersFinished(state.vote_counts_in ?? 0);
    render();
    if (state.status !== "voted") connect(); // a voted battle is shown with its reveal, nothing more to stream
  } catch {
    remember(null);
  }
}

function newRound() {
  remember(null);
  clearInterval(countdown);
  countdown = null;
  countsAt = 0;
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
promptBox.addEventListener("input", () => renderControls());
// 1-4 vote, unless the key is meant for a field, a button or a shortcut of the browser.
document.addEventListener("keydown", (event) => {
  const outcome = VOTE_KEYS[event.key];
  if (!outcome || event.ctrlKey || event.metaKey || event.altKey || event.isComposing || event.repeat) return;
  const target = event.target;
  if (target instanceof HTMLElement && (target.isContentEditable || target.closest("input, textarea, select"))) return;
  const button = voteButtons.find((b) => b.dataset.outcome === outcome);
  if (!button || button.disabled) return;
  event.preventDefault();
  button.click();
});
document.querySelectorAll("button.retry").forEach((b) => b.addEventListener("click", () => retry(b.dataset.side)));
document.querySelectorAll("button.regenerate").forEach((b) => b.addEventListener("click", () => regenerate(b.dataset.side)));
stopButton.addEventListener("click", stop);
newRoundButton.addEventListener("click", newRound);
document.querySelectorAll('input[name="mode"]').forEach((input) =>
  input.addEventListener("change", () => { $("pickers").hidden = mode() !== "side_by_side"; }));
render();
restore();
