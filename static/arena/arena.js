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
const composer = $("composer");
const maxImages = Number(root.dataset.maxImages || 0); // 0: this arena takes no images
const imageMaxBytes = Number(root.dataset.imageMaxBytes || 10 * 1024 * 1024);
const imageTypes = (root.dataset.imageTypes || "").split(",").map((t) => t.trim()).filter(Boolean);
const attachButton = $("attach");
const imageInput = $("image-input");
const attachmentList = $("attachments");
const THUMB_PX = 160; // the longest side of an attachment's preview, drawn on a canvas (the CSP takes no blob: URLs)
const FOLLOW_SLACK_PX = 24; // this close to the bottom counts as "at the bottom": the pane keeps following the stream

let battle = null;   // the server's view of the battle, with chunks merged in
let socket = null;
let pendingEvents = null; // events that arrive while the state is being (re)fetched
let reconnectDelay = 500;
let busy = false;
let countsAt = 0;   // when a vote on the current battle starts to count (ms since the epoch; 0: it does now)
let countdown = null;
const renderQueued = new Set();
const imageNodes = new Map(); // each turn's thumbnails in each pane, kept across renders
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

// A JSON request, or a multipart one when ``body`` is FormData (the browser writes its Content-Type and boundary).
async function api(method, url, body) {
  const form = body instanceof FormData;
  const headers = { "X-CSRFToken": csrfToken(), Accept: "application/json" };
  if (!form) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
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
    const images = turn.images || [];
    if (images.length) {
      const text = document.createElement("div");
      text.textContent = turn.prompt;
      // The same nodes on every render (one per chunk): the images are not fetched and laid out again.
      const key = `${battle.id}:${side}:${turn.index}:${images.map((image) => image.sha256).join(",")}`;
      if (!imageNodes.has(key)) imageNodes.set(key, turnImages(images));
      prompt.append(imageNodes.get(key), text);
    } else {
      prompt.textContent = turn.prompt;
    }
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

// A turn's images, above its prompt: thumbnails sized from the stored dimensions (no jump when they load), each a
// link to the image itself.
function turnImages(images) {
  const list = document.createElement("div");
  list.className = "msg-images";
  images.forEach((image, i) => {
    const link = document.createElement("a");
    link.href = image.url;
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.src = image.url;
    img.alt = interpolate(gettext("Image %(number)s of your prompt, %(width)s × %(height)s pixels"),
      { number: i + 1, width: image.width, height: image.height });
    const [width, height] = fit(image.width, image.height, THUMB_PX);
    img.width = width;
    img.height = height;
    img.decoding = "async";
    link.append(img);
    list.append(link);
  });
  return list;
}

// A width × height scaled down (never up) to fit a square of ``side`` pixels; at least 1 × 1.
function fit(width, height, side) {
  const w = Number(width) || side;
  const h = Number(height) || side;
  const scale = Math.min(1, side / w, side / h);
  return [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
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
  attachButton.disabled = !canPrompt || attachments.length >= maxImages;
  attachmentList.querySelectorAll("button").forEach((b) => { b.disabled = busy; });
  renderImageWarning();
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
  const textOnly = textOnlySides();
  if (attachments.length && textOnly.length) {
    showNotice(textOnlyMessage(textOnly));
    return;
  }
  busy = true;
  renderControls();
  showNotice("");
  try {
    if (!battle) {
      const body = { prompt, mode: mode() };
      if (body.mode === "side_by_side") Object.assign(body, { model_a: $("pick-a").value, model_b: $("pick-b").value });
      battle = await api("POST", "/api/battles", withImages(body));
      remember(battle.id);
      promptBox.value = "";
      clearAttachments();
      busy = false;
      render();
      connect();
    } else {
      battle = await api("POST", `/api/battles/${battle.id}/turns`, withImages({ prompt }));
      promptBox.value = "";
      clearAttachments();
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

// ---- images attached to the prompt ------------------------------------------
// Each attachment: { file, width, height, thumb, item } (thumb: a data: URL of a small preview, or "" while it is
// drawn or when the browser cannot read the file: the server then says what is wrong with it; item: its list item).

let attachments = [];
let dragDepth = 0;

const TYPE_NAMES = { "image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP", "image/gif": "GIF" };

function typeNames() {
  return imageTypes.map((t) => TYPE_NAMES[t] || t.replace(/^image\//, "").toUpperCase()).join(", ");
}

// A file's size as the voter reads it: "850 KB", "12.5 MB".
function fileSize(bytes) {
  if (bytes < 1024 * 1024) return interpolate(gettext("%(size)s KB"), { size: Math.max(1, Math.round(bytes / 1024)) });
  return interpolate(gettext("%(size)s MB"), { size: (bytes / (1024 * 1024)).toFixed(1) });
}

// The prompt as the server takes it: JSON without images, a multipart form with them (each file a field "images").
function withImages(body) {
  if (!attachments.length) return body;
  const form = new FormData();
  for (const [key, value] of Object.entries(body)) form.append(key, value);
  attachments.forEach((a) => form.append("images", a.file, a.file.name || "image"));
  return form;
}

// Add files from the picker, a paste or a drop: what this arena would refuse is told at once and left out.
function addFiles(files) {
  if (!maxImages || promptBox.disabled) return; // nothing can be sent now (answers streaming, or voted)
  const problems = [];
  let over = 0;
  for (const file of files) {
    const name = file.name || gettext("The pasted image");
    if (!imageTypes.includes(file.type)) {
      problems.push(interpolate(gettext("%(name)s is not an image of a type this arena takes (%(types)s)."), { name, types: typeNames() }));
    } else if (file.size > imageMaxBytes) {
      problems.push(interpolate(gettext("%(name)s is %(size)s; the limit is %(limit)s per image."), { name, size: fileSize(file.size), limit: fileSize(imageMaxBytes) }));
    } else if (attachments.length >= maxImages) {
      over += 1;
    } else {
      const attachment = { file, width: 0, height: 0, thumb: "", item: null };
      attachments.push(attachment);
      drawThumb(attachment);
    }
  }
  if (over) {
    problems.push(interpolate(ngettext("%(over)s image was left out: a prompt takes at most %(max)s.", "%(over)s images were left out: a prompt takes at most %(max)s.", over), { max: maxImages, over }));
  }
  if (problems.length) showNotice(problems.join(" ")); else clearErrorNotice();
  renderAttachments();
  renderControls();
}

async function drawThumb(attachment) {
  try {
    const bitmap = await createImageBitmap(attachment.file);
    attachment.width = bitmap.width;
    attachment.height = bitmap.height;
    const [width, height] = fit(bitmap.width, bitmap.height, THUMB_PX);
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    attachment.thumb = canvas.toDataURL("image/png");
  } catch {
    return; // not readable here: the server will say why; the preview stays a placeholder
  }
  if (!attachments.includes(attachment)) return;
  const preview = document.createElement("img");
  preview.className = "attachment-preview";
  preview.src = attachment.thumb;
  [preview.width, preview.height] = fit(attachment.width, attachment.height, THUMB_PX);
  attachment.item.querySelector(".attachment-preview").replaceWith(preview);
  renderAttachments();
}

// An error notice is about what the voter is fixing; a change to the attachments takes it away (not a reveal).
function clearErrorNotice() {
  if (notice.dataset.kind === "error") showNotice("");
}

function removeAttachment(attachment) {
  const index = attachments.indexOf(attachment);
  if (index < 0) return;
  attachments.splice(index, 1);
  attachment.item.remove();
  clearErrorNotice();
  renderAttachments();
  renderControls();
  const buttons = attachmentList.querySelectorAll("button");
  (buttons[Math.min(index, buttons.length - 1)] || (attachButton.disabled ? promptBox : attachButton)).focus();
}

function clearAttachments() {
  attachments = [];
  attachmentList.replaceChildren();
  renderAttachments();
}

// One list item per attachment, made once (a re-render never takes the focus from its remove button); the
// numbers in the names follow the order.
function attachmentItem(attachment) {
  const item = document.createElement("li");
  item.className = "attachment";
  const preview = document.createElement("span");
  preview.className = "attachment-preview";
  const name = document.createElement("span");
  name.className = "attachment-name";
  name.textContent = attachment.file.name || gettext("The pasted image");
  name.title = name.textContent;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove-attachment secondary";
  remove.textContent = "×";
  remove.addEventListener("click", () => removeAttachment(attachment));
  item.append(preview, name, remove);
  return item;
}

function renderAttachments() {
  attachments.forEach((a, i) => {
    if (!a.item) a.item = attachmentItem(a);
    if (a.item.parentNode !== attachmentList) attachmentList.append(a.item);
    const number = i + 1;
    const preview = a.item.querySelector(".attachment-preview");
    if (preview instanceof HTMLImageElement) {
      preview.alt = interpolate(gettext("Image %(number)s to attach, %(width)s × %(height)s pixels"), { number, width: a.width, height: a.height });
    } else {
      preview.textContent = interpolate(gettext("Image %(number)s"), { number });
    }
    const remove = a.item.querySelector("button");
    remove.setAttribute("aria-label", interpolate(gettext("Remove image %(number)s"), { number }));
    remove.disabled = busy;
  });
  attachmentList.hidden = !attachments.length;
  // Said once there is something to count (a live region: it stays in the page, empty).
  $("image-count").textContent = attachments.length
    ? interpolate(ngettext("%(count)s / %(max)s image", "%(count)s / %(max)s images", maxImages), { count: attachments.length, max: maxImages })
    : "";
}

// The sides whose model takes no images, in side-by-side mode (anonymous battles draw only models that do).
function textOnlySides() {
  if (!maxImages) return [];
  if (battle) {
    if (battle.mode !== "side_by_side" || !battle.models) return [];
    return SIDES.filter((side) => {
      const model = battle.models[side];
      if (typeof model.accepts_images === "boolean") return !model.accepts_images;
      const option = [...$(`pick-${side}`).options].find((o) => o.value === model.name);
      return option ? option.dataset.images === "no" : false;
    }).map((side) => ({ side, name: battle.models[side].name }));
  }
  if (mode() !== "side_by_side") return [];
  return SIDES.map((side) => ({ side, option: $(`pick-${side}`).selectedOptions[0] }))
    .filter(({ option }) => option && option.dataset.images === "no") // unknown: the server judges
    .map(({ side, option }) => ({ side, name: option.value }));
}

function textOnlyMessage(sides) {
  if (sides.length === 2) {
    return interpolate(gettext("Neither %(a)s nor %(b)s takes images: pick models marked “(images)”, or remove the images."), { a: sides[0].name, b: sides[1].name });
  }
  return interpolate(gettext("%(model)s (%(name)s) does not take images: pick a model marked “(images)”, or remove the images."), { model: sideName(sides[0].side), name: sides[0].name });
}

function renderImageWarning() {
  const warning = $("image-warning");
  const sides = attachments.length ? textOnlySides() : [];
  const text = sides.length ? textOnlyMessage(sides) : "";
  if (warning.textContent !== text) warning.textContent = text;
  warning.hidden = !text;
}

function hasFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes("Files");
}

function wireImages() {
  if (!maxImages) return;
  $("attach-group").hidden = false;
  imageInput.accept = imageTypes.join(",");
  $("image-help").textContent = interpolate(ngettext("Up to %(max)s image per prompt (%(types)s), at most %(size)s each; you can also paste or drop them here.", "Up to %(max)s images per prompt (%(types)s), at most %(size)s each; you can also paste or drop them here.", maxImages), { max: maxImages, types: typeNames(), size: fileSize(imageMaxBytes) });
  attachButton.addEventListener("click", () => imageInput.click());
  imageInput.addEventListener("change", () => {
    addFiles([...imageInput.files]);
    imageInput.value = ""; // the same file can be picked again after it was removed
  });
  // A paste of images (and no text) into the prompt box attaches them; a paste of text stays a paste of text.
  composer.addEventListener("paste", (event) => {
    const data = event.clipboardData;
    if (!data || !data.files.length || data.types.includes("text/plain")) return;
    event.preventDefault();
    addFiles([...data.files]);
  });
  const dropHint = $("drop-hint");
  const highlight = (on) => { composer.classList.toggle("dropping", on); dropHint.hidden = !on; };
  composer.addEventListener("dragenter", (event) => {
    if (!hasFiles(event) || promptBox.disabled) return;
    event.preventDefault();
    dragDepth += 1;
    highlight(true);
  });
  composer.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = promptBox.disabled ? "none" : "copy";
  });
  composer.addEventListener("dragleave", (event) => {
    if (!hasFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) highlight(false);
  });
  composer.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    highlight(false);
    if (!promptBox.disabled) addFiles([...event.dataTransfer.files]);
  });
  // A file dropped beside the form must not open in the tab, leaving the battle.
  document.addEventListener("dragover", (event) => {
    if (hasFiles(event) && !composer.contains(event.target)) { event.preventDefault(); event.dataTransfer.dropEffect = "none"; }
  });
  document.addEventListener("drop", (event) => {
    if (hasFiles(event) && !composer.contains(event.target)) event.preventDefault();
  });
  document.querySelectorAll("#pickers select").forEach((select) => select.addEventListener("change", renderImageWarning));
  renderAttachments();
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
  imageNodes.clear();
  busy = false;
  showNotice("");
  render();
  promptBox.focus();
}

setInterval(() => { if (battle && battle.status === "generating" && !pendingEvents) resync(); }, WATCHDOG_MS);
composer.addEventListener("submit", send);
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
  input.addEventListener("change", () => { $("pickers").hidden = mode() !== "side_by_side"; renderImageWarning(); }));
wireImages();
render();
restore();
