// The sandbox console: be anyone in the world, talk to the bot in your 1:1 chat,
// click its Adaptive Cards, and watch the group chats and the audit trail.
//
// It talks only to the control API (/_sandbox/...), as any other client would.
// Cards are rendered by Microsoft's `adaptivecards` renderer when it is loaded
// (window.AdaptiveCards); without it they are shown as plain text and buttons.

const CARD_TYPE = "application/vnd.microsoft.card.adaptive";
const MESSAGE_TYPE = "application/vnd.microsoft.activity.message";
const ERROR_TYPE = "application/vnd.microsoft.error";
const ENTIRE_HISTORY = "0001-01-01T00:00:00Z";
const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 30000;

/** Validation events the renderer raised while parsing or checking cards; tests expect none. */
window.consoleRenderWarnings = [];

const AC = window.AdaptiveCards;

const state = {
  world: null,
  current: null,
  /** user key → { list: <li> container element, loaded: Promise } */
  transcripts: new Map(),
  /** user key → Map(activity id → { item: message element, posted: the activity as last seen, as JSON }) */
  botMessages: new Map(),
  chats: new Map(),
  /** viewer, chat, activity and posted card → the card the bot answered that viewer with */
  replacedCards: new Map(),
  version: -1,
  /** user key → { open, record }: the people panel's assign/share choices */
  handOver: new Map(),
  /** the records' access the people panel was drawn from */
  peopleShown: null,
};

// ---- control API ---------------------------------------------------------------------

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new Error((json && json.error) || `${method} ${path} answered ${response.status}`);
  }
  return json;
}

const enc = encodeURIComponent;

// ---- small DOM helpers ---------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function escapeHtml(text) {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The little Markdown Teams messages use: bold, italics, code, links, bullets, line breaks. */
function markdown(text) {
  return escapeHtml(text)
    .split("\n")
    .map((line) => line.replace(/^\s*[-*] /, "• "))
    .join("\n")
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])[_*]([^_*\n]+)[_*](?=[\s).,:;!?]|$)/g, "$1<em>$2</em>")
    .replace(/\n/g, "<br>");
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

function showLoadError(text) {
  const banner = document.getElementById("load-error");
  banner.textContent = text;
  banner.hidden = !text;
}

function userByKey(key) {
  return state.world.users.find((user) => user.key === key);
}

function nameOf(key) {
  if (key === "bot") return "joinchat";
  if (key === "system") return "Teams";
  const user = userByKey(key);
  return user ? user.name : key;
}

function nameOfAad(aad) {
  const user = state.world.users.find((u) => u.aad_object_id === aad);
  return user ? user.name : aad;
}

// ---- people --------------------------------------------------------------------------

const ROLE_ORDER = { owner: 0, write: 1, read: 2 };

function rolesOf(key) {
  return state.world.records
    .filter((record) => record.access && record.access[key])
    .map((record) => ({ record, role: record.access[key] }))
    .sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.record.name.localeCompare(b.record.name));
}

function renderPeople() {
  const list = document.getElementById("people");
  list.replaceChildren();
  for (const user of state.world.users) {
    const roles = rolesOf(user.key);
    const roleList = roles.length
      ? el("ul", { class: "roles" },
          roles.map(({ record, role }) =>
            el("li", {},
              el("span", { class: `role role-${role}`, text: role }),
              el("span", { class: "record" }, el("span", { class: "entity", text: record.entity }), " ", record.name))))
      : el("p", { class: "roles none", text: "No access to any record" });
    const button = el("button", {
      type: "button",
      class: "person",
      "data-user": user.key,
      "aria-pressed": String(user.key === state.current),
      onclick: () => selectUser(user.key),
    },
      el("span", { class: "person-name", text: user.name }),
      el("span", { class: "person-key", text: user.key }),
      user.admin ? el("span", { class: "badge badge-admin", text: "admin" }) : null);
    list.append(el("li", { class: "person-item", "data-user": user.key }, button, roleList, handOver(user)));
  }
  state.peopleShown = accessSignature();
}

/** What the people panel draws from the world: redrawn only when it changes. */
function accessSignature() {
  return JSON.stringify(state.world.records.map((record) => [record.id, record.access]));
}

/**
 * Assign or share a record with this person, as someone in Dynamics 365
 * would: the sandbox's Dataverse changes the record and calls the bot's
 * webhook; the card the bot sends arrives in the person's 1:1 chat.
 * The choices made survive a redraw of the panel.
 */
function handOver(user) {
  const kept = state.handOver.get(user.key) || {};
  const selectId = `hand-over-${user.key}`;
  const choose = el("select", { id: selectId, name: "record" },
    state.world.records.map((record) =>
      el("option", { value: `${record.entity}/${record.id}`, selected: kept.record === `${record.entity}/${record.id}` },
        `${record.entity} ${record.name}`)));
  choose.addEventListener("change", () => remember(user.key, { record: choose.value }));
  const act = (label, path, body) =>
    el("button", { type: "button", class: "hand-over-action", onclick: (event) => handOverRecord(user, choose.value, path, body, event.currentTarget) }, label);
  const details = el("details", { class: "hand-over", open: kept.open },
    el("summary", {}, `Assign or share a record with ${user.name}`),
    el("label", { for: selectId, text: "Record" }),
    choose,
    el("div", { class: "hand-over-actions" },
      act("Assign", "assign", { owner: user.key }),
      act("Share: can edit", "share", { user: user.key, access: "write" }),
      act("Share: read only", "share", { user: user.key, access: "read" })));
  details.addEventListener("toggle", () => remember(user.key, { open: details.open }));
  return details;
}

function remember(key, change) {
  state.handOver.set(key, { ...(state.handOver.get(key) || {}), ...change });
}

async function handOverRecord(user, chosen, path, body, button) {
  const [entity, id] = chosen.split("/");
  const record = state.world.records.find((r) => r.entity === entity && r.id === id);
  const what = path === "assign"
    ? `Assigned ${entity} ${record ? record.name : id} to ${user.name}`
    : `Shared ${entity} ${record ? record.name : id} with ${user.name} (${body.access === "write" ? "can edit" : "read only"})`;
  button.disabled = true;
  setStatus(`${what}: Dataverse is calling the bot…`);
  try {
    // Their chat is open before the card comes, so it arrives as it would in Teams.
    await transcriptFor(user.key).loaded;
    const answer = await api("POST", `/_sandbox/records/${enc(entity)}/${enc(id)}/${path}`, body);
    const posted = (answer.activities || []).length;
    const told = answer.status === null || answer.status === undefined
      ? "no webhook is registered, so the bot was not told."
      : answer.status >= 400
        ? `the bot's webhook answered HTTP ${answer.status}.`
        : posted
          ? `the bot sent ${posted === 1 ? "a card" : `${posted} messages`}. Showing ${user.name}'s chat.`
          : "the bot sent nothing (no chats to offer, or nothing new for them).";
    showPosted(answer.activities);
    if (posted) await selectUser(user.key);
    await refreshWorld();
    setStatus(`${what}: ${told}`);
  } catch (error) {
    setStatus(`${what} failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function selectUser(key) {
  state.current = key;
  const user = userByKey(key);
  document.getElementById("current-identity").textContent = `${user.name} (${user.key})`;
  document.getElementById("conversation-title").textContent = `Chat with joinchat — as ${user.name}`;
  for (const button of document.querySelectorAll(".person")) {
    button.setAttribute("aria-pressed", String(button.dataset.user === key));
  }
  for (const list of document.querySelectorAll(".transcript")) {
    list.hidden = list.dataset.user !== key;
  }
  renderSuggestions();
  redrawChatsForViewer();
  const entry = transcriptFor(key);
  const composer = document.getElementById("composer");
  composer.dataset.ready = "false";
  await entry.loaded;
  if (state.current === key) composer.dataset.ready = "true";
}

function renderSuggestions() {
  const user = userByKey(state.current);
  const readable = state.world.records.filter((record) => record.access && record.access[user.key]);
  const records = (readable.length ? readable : state.world.records).slice(0, 3);
  const commands = ["help", ...records.map((record) => `join chat for ${record.entity} ${record.name}`)];
  if (user.admin) commands.push("join chat settings");
  const box = document.getElementById("suggestions");
  box.replaceChildren(
    el("span", { class: "suggestions-label", text: "Try:" }),
    ...commands.map((command) =>
      el("button", { type: "button", class: "suggestion", onclick: () => send(command) }, command)));
}

// ---- the 1:1 transcript ----------------------------------------------------------------

function transcriptFor(key) {
  let entry = state.transcripts.get(key);
  if (entry) return entry;
  const list = el("li", { class: "transcript", "data-user": key, hidden: key !== state.current });
  const user = userByKey(key);
  const items = el("ol", { class: "messages" },
    el("li", { class: "divider", text: `Your 1:1 chat with joinchat, as ${user.name}. Type a command, or pick one under “Try”.` }));
  list.append(items);
  document.getElementById("transcripts").append(list);
  state.botMessages.set(key, new Map());
  entry = { list: items, loaded: loadHistory(key, items) };
  state.transcripts.set(key, entry);
  return entry;
}

// What the bot already said in this person's 1:1 chat (before this page was opened).
async function loadHistory(key, items) {
  try {
    const shown = await syncConversation(key, { fromHistory: true });
    if (shown) items.children[0].after(el("li", { class: "divider", text: "Earlier messages from joinchat" }));
  } catch (error) {
    items.append(el("li", { class: "note note-error", text: `Could not load earlier messages: ${error.message}` }));
  }
}

/**
 * Shows what the bot posted in this person's 1:1 chat that the page has not
 * seen yet (proactive messages, notices), and cards the bot updated since.
 * Answers how many it showed.
 */
async function syncConversation(key, { fromHistory = false } = {}) {
  const user = userByKey(key);
  const activities = await api("GET", `/_sandbox/conversations/${enc(user.conversation_id)}/activities`);
  let shown = 0;
  for (const activity of activities) {
    if (showBotActivity(key, activity, { fromHistory })) shown += 1;
  }
  return shown;
}

/** Routes activities the bot posted to the 1:1 transcripts the page holds. */
function showPosted(activities) {
  for (const activity of activities || []) {
    const conversation = activity.conversation && activity.conversation.id;
    const user = state.world.users.find((u) => u.conversation_id === conversation || u.personal_chat_id === conversation);
    if (user && state.transcripts.has(user.key)) showBotActivity(user.key, activity);
  }
}

function scrollToEnd() {
  const box = document.getElementById("transcripts");
  box.scrollTop = box.scrollHeight;
}

function showUserMessage(key, text) {
  transcriptFor(key).list.append(
    el("li", { class: "message from-user" },
      el("span", { class: "sender", text: nameOf(key) }),
      el("p", { class: "bubble", text })));
  scrollToEnd();
}

function showNote(key, text, kind = "info") {
  transcriptFor(key).list.append(el("li", { class: `note note-${kind}`, text }));
  scrollToEnd();
}

/**
 * Shows a bot activity, or replaces the one with the same id when the bot
 * changed it (a card update). An activity seen before, unchanged, is left as
 * it is, so a card replaced in place by an invoke answer stays replaced.
 * Cards from history refresh themselves for this viewer, as Teams does when a
 * card with `refresh` is shown again. Answers whether it showed something.
 */
function showBotActivity(key, activity, { fromHistory = false } = {}) {
  const known = state.botMessages.get(key);
  const posted = JSON.stringify(activity);
  const existing = activity.id && known.get(activity.id);
  if (existing && existing.posted === posted) return false;
  const body = el("div", { class: "bubble bot-bubble" });
  if (activity.text && activity.text.trim()) {
    const text = el("div", { class: "bot-text" });
    text.innerHTML = markdown(activity.text);
    body.append(text);
  }
  for (const attachment of activity.attachments || []) {
    if (attachment.contentType === CARD_TYPE) {
      body.append(cardHost(() => key, attachment.content, { activityId: activity.id, refreshNow: fromHistory }));
    } else {
      body.append(el("p", { class: "note", text: `(an attachment of type ${attachment.contentType})` }));
    }
  }
  const item = el("li", { class: "message from-bot", "data-activity-id": activity.id || "" },
    el("span", { class: "sender", text: "joinchat" }), body);
  if (existing) existing.item.replaceWith(item);
  else transcriptFor(key).list.append(item);
  if (activity.id) known.set(activity.id, { item, posted });
  scrollToEnd();
  return true;
}

// ---- cards ---------------------------------------------------------------------------

const FOREGROUND_COLORS = {
  default: { default: "#242424", subtle: "#5C5C5C" },
  accent: { default: "#464775", subtle: "#4F52B2" },
  good: { default: "#0B6A0B", subtle: "#0B6A0B" },
  warning: { default: "#8A3707", subtle: "#8A3707" },
  attention: { default: "#B10E1C", subtle: "#B10E1C" },
  dark: { default: "#242424", subtle: "#424242" },
  light: { default: "#FFFFFF", subtle: "#F5F5F5" },
};

const HOST_CONFIG = {
  fontFamily: "'Segoe UI', system-ui, -apple-system, 'Helvetica Neue', sans-serif",
  supportsInteractivity: true,
  spacing: { small: 4, default: 8, medium: 16, large: 24, extraLarge: 32, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#D1D1D1" },
  fontSizes: { small: 12, default: 14, medium: 16, large: 20, extraLarge: 24 },
  fontWeights: { lighter: 300, default: 400, bolder: 600 },
  imageSizes: { small: 32, medium: 64, large: 128 },
  containerStyles: {
    default: { backgroundColor: "#FFFFFF", foregroundColors: FOREGROUND_COLORS },
    emphasis: { backgroundColor: "#F3F2F1", foregroundColors: FOREGROUND_COLORS },
  },
  actions: {
    maxActions: 6,
    spacing: "default",
    buttonSpacing: 8,
    showCard: { actionMode: "inline", inlineTopMargin: 12 },
    actionsOrientation: "horizontal",
    actionAlignment: "left",
  },
  adaptiveCard: { allowCustomStyle: false },
  factSet: {
    title: { weight: "bolder", wrap: true },
    value: { wrap: true },
    spacing: 8,
  },
};

if (AC) {
  AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
    result.outputHtml = markdown(text);
    result.didProcess = true;
  };
}

/**
 * A box holding one card; `Action.Execute` clicks invoke the bot as whoever
 * `viewer()` names at that moment (in `chat` when the card is in a group chat)
 * and replace the card in place when the bot answers with a new one, as Teams does.
 */
function cardHost(viewer, card, { activityId, chat, refreshNow = false } = {}) {
  // A card the bot replaced for a viewer stays replaced for them while the
  // posted card is unchanged, even when the chat around it is redrawn.
  const memo = chat ? `${viewer()}|${chat}|${activityId}|${JSON.stringify(card)}` : null;
  const host = el("div", { class: "card-host" });
  const feedback = el("p", { class: "card-feedback", role: "status" });
  const surface = el("div", { class: "card-surface" });
  host.append(surface, feedback);

  const execute = async (verb, data, { quiet = false } = {}) => {
    if (host.getAttribute("aria-busy") === "true") return;
    const key = viewer();
    if (chat && !isMember(chat, key)) {
      if (!quiet) feedback.textContent = `${nameOf(key)} is not in this chat: only its members can use its cards.`;
      return;
    }
    host.setAttribute("aria-busy", "true");
    feedback.textContent = quiet ? "" : "Working…";
    try {
      const answer = await api("POST", `/_sandbox/users/${enc(key)}/invoke`, {
        verb,
        data: data ?? {},
        chat,
        reply_to_id: activityId || undefined,
      });
      feedback.textContent = "";
      const body = answer.body || {};
      if (answer.status !== 200) {
        feedback.textContent = `The bot answered HTTP ${answer.status}.`;
      } else if (body.type === CARD_TYPE && body.value) {
        draw(body.value);
        if (memo) state.replacedCards.set(memo, body.value);
      } else if (body.type === MESSAGE_TYPE) {
        feedback.textContent = String(body.value ?? "");
      } else if (body.type === ERROR_TYPE) {
        feedback.textContent = `Error: ${(body.value && body.value.message) || "the bot refused"}`;
      }
      showPosted(answer.activities);
      refreshWorld();
    } catch (error) {
      feedback.textContent = `Could not reach the bot: ${error.message}`;
    } finally {
      host.removeAttribute("aria-busy");
    }
  };

  const draw = (json) => {
    surface.replaceChildren(AC ? renderAdaptiveCard(json, execute) : renderPlainCard(json, execute));
  };
  if (memo && state.replacedCards.has(memo)) {
    draw(state.replacedCards.get(memo));
    return host;
  }
  draw(card);
  const refresh = card && card.refresh;
  const forViewer = refresh && (!refresh.userIds || refresh.userIds.includes(userByKey(viewer()).mri));
  if (refreshNow && forViewer && refresh.action && refresh.action.type === "Action.Execute") {
    execute(refresh.action.verb, refresh.action.data, { quiet: true });
  }
  return host;
}

function renderAdaptiveCard(json, execute) {
  const card = new AC.AdaptiveCard();
  card.hostConfig = new AC.HostConfig(HOST_CONFIG);
  card.onExecuteAction = (action) => {
    if (action instanceof AC.ExecuteAction) {
      execute(action.verb, action.data);
    } else if (action instanceof AC.OpenUrlAction) {
      window.open(action.url, "_blank", "noopener,noreferrer");
    } else if (action instanceof AC.SubmitAction) {
      execute(undefined, action.data);
    }
  };
  const context = new AC.SerializationContext();
  card.parse(json, context);
  for (let i = 0; i < context.eventCount; i++) {
    const event = context.getEventAt(i);
    window.consoleRenderWarnings.push({ phase: "parse", event: AC.ValidationEvent[event.event], message: event.message });
  }
  for (const event of card.validateProperties().validationEvents) {
    window.consoleRenderWarnings.push({ phase: "validate", event: AC.ValidationEvent[event.event], message: event.message });
  }
  const rendered = card.render();
  return rendered || el("p", { class: "note note-error", text: "The renderer could not draw this card." });
}

/** Without the renderer: the card's text and its buttons, in place, so the page still works. */
function renderPlainCard(json, execute) {
  const box = el("div", { class: "plain-card" });
  const button = (action) => {
    if (action.type === "Action.Execute") {
      return el("button", { type: "button", title: action.tooltip, onclick: () => execute(action.verb, action.data) }, action.title || action.verb);
    }
    if (action.type === "Action.OpenUrl") {
      return el("a", { href: action.url, target: "_blank", rel: "noopener noreferrer" }, action.title || action.url);
    }
    return null;
  };
  const walk = (node, into) => {
    if (Array.isArray(node)) return node.forEach((child) => walk(child, into));
    if (!node || typeof node !== "object") return;
    if (node.type === "TextBlock" && node.text) into.append(el("p", {}, node.text));
    if (node.type === "FactSet") for (const fact of node.facts || []) into.append(el("p", {}, `${fact.title}: ${fact.value}`));
    for (const field of ["body", "items", "columns"]) walk(node[field], into);
    if (node.actions && node.actions.length) into.append(el("div", { class: "plain-actions" }, node.actions.map(button)));
  };
  walk(json, box);
  return box;
}

// ---- talking ---------------------------------------------------------------------------

async function send(text) {
  const key = state.current;
  text = text.trim();
  if (!text || !key) return;
  await transcriptFor(key).loaded;
  showUserMessage(key, text);
  setStatus("joinchat is answering…");
  const sendButton = document.getElementById("send");
  sendButton.disabled = true;
  try {
    const answer = await api("POST", `/_sandbox/users/${enc(key)}/say`, { text });
    const conversation = userByKey(key).conversation_id;
    const mine = (answer.activities || []).filter((a) => a.conversation && a.conversation.id === conversation);
    showPosted(answer.activities);
    if (answer.status >= 400) showNote(key, `The bot answered HTTP ${answer.status}.`, "error");
    else if (!mine.length) showNote(key, "The bot did not reply.");
    setStatus("");
    refreshWorld();
  } catch (error) {
    showNote(key, `Could not reach the bot: ${error.message}`, "error");
    setStatus("");
  } finally {
    sendButton.disabled = false;
  }
}

function wireComposer() {
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    send(text);
  });
}

// ---- group chats and audit -------------------------------------------------------------

function historyLabel(start) {
  if (start === null || start === undefined) return "member from the start";
  if (start === ENTIRE_HISTORY) return "entire history";
  return `history since ${new Date(start).toLocaleString()}`;
}

function isMember(chatId, key) {
  const known = state.chats.get(chatId);
  return Boolean(known && known.view.members.some((member) => member.user === key));
}

/**
 * One group chat: topic, members with the history each sees, and messages —
 * the bot's cards drawn by the renderer for whoever the page is now (each
 * viewer gets their own view, as Teams refreshes cards per viewer). Redrawn
 * only when the chat changed or the viewer did.
 */
function renderChat(view, posted, { force = false } = {}) {
  const known = state.chats.get(view.id);
  const fingerprint = JSON.stringify([view, posted]);
  if (known && known.fingerprint === fingerprint && !force) return;
  const changed = known && known.fingerprint !== fingerprint;
  const number = state.world.chats.findIndex((c) => c.id === view.id) + 1;
  // Members must be known before the cards below decide who may click them.
  state.chats.set(view.id, { ...(known || {}), view, posted });
  const members = el("ul", { class: "members", "aria-label": "Members" },
    view.members.map((member) =>
      el("li", { "data-user": member.user, "data-history": member.visible_history_start ?? "" },
        el("span", { class: "member-name", text: nameOf(member.user) }),
        el("span", { class: `history ${member.visible_history_start === ENTIRE_HISTORY ? "history-full" : ""}`, text: historyLabel(member.visible_history_start) }))));
  // The chat view lists the bot's posts in the order the connector kept them.
  let botIndex = 0;
  const messages = el("ol", { class: "chat-messages", "aria-label": "Messages" },
    view.messages.map((message) => {
      const activity = message.kind === "bot" ? posted[botIndex++] : undefined;
      const cards = ((activity && activity.attachments) || []).filter((a) => a.contentType === CARD_TYPE);
      const content = cards.length
        ? el("div", { class: "chat-cards" }, cards.map((attachment) =>
            cardHost(() => state.current, attachment.content, { activityId: activity.id, chat: view.id, refreshNow: true })))
        : el("span", { class: "text", text: message.text });
      return el("li", { class: `chat-message kind-${message.kind}`, "data-kind": message.kind },
        message.kind === "system" ? null : el("span", { class: "from", text: nameOf(message.from) }),
        content);
    }));
  const open = known && known.node ? known.node.open : true;
  const node = el("details", { class: "chat", "data-chat-id": view.id, open },
    el("summary", {},
      el("h3", { id: `chat-title-${number}`, class: "chat-topic", text: view.topic }),
      el("span", { class: "chat-meta", text: `${view.members.length} ${view.members.length === 1 ? "member" : "members"}${view.bot_installed === false ? " · bot not installed" : ""}` })),
    el("div", { class: "chat-body" }, members, messages, chatComposer(view)));
  const old = known && known.node;
  const hadFocus = old && old.contains(document.activeElement) && document.activeElement.matches("input");
  if (changed) node.classList.add("changed");
  if (old) old.replaceWith(node);
  else document.getElementById("chats").append(node);
  state.chats.set(view.id, { node, fingerprint, view, posted });
  if (hadFocus) node.querySelector(".chat-composer input")?.focus();
}

/** Members may @mention the bot in the chat; others are told why they cannot. */
function chatComposer(view) {
  const key = state.current;
  if (!view.members.some((member) => member.user === key)) {
    return el("p", { class: "hint chat-hint", text: `${nameOf(key)} is not in this chat, so cannot write here.` });
  }
  const inputId = `chat-input-${state.world.chats.findIndex((c) => c.id === view.id) + 1}`;
  const input = el("input", { id: inputId, type: "text", placeholder: "@joinchat …", required: true });
  return el("form", {
    class: "chat-composer",
    onsubmit: async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      try {
        const answer = await api("POST", `/_sandbox/users/${enc(key)}/say`, { text, chat: view.id });
        showPosted(answer.activities);
        if (answer.status >= 400) setStatus(`The bot answered HTTP ${answer.status} in “${view.topic}”.`);
      } catch (error) {
        setStatus(`Could not reach the bot: ${error.message}`);
      }
      refreshWorld();
    },
  },
    el("label", { for: inputId, class: "visually-hidden" }, `Message to ${view.topic}, mentioning joinchat, as ${nameOf(key)}`),
    input,
    el("button", { type: "submit" }, "Send"));
}

async function refreshChats() {
  const chats = await Promise.all(
    state.world.chats.map((chat) => Promise.all([
      api("GET", `/_sandbox/chats/${enc(chat.id)}`),
      api("GET", `/_sandbox/conversations/${enc(chat.id)}/activities`),
    ])));
  for (const [view, posted] of chats) renderChat(view, posted);
}

/** A new viewer: every chat's composer and cards are theirs now. */
function redrawChatsForViewer() {
  for (const { view, posted } of [...state.chats.values()]) renderChat(view, posted, { force: true });
}

function recordName(id) {
  const record = state.world.records.find((r) => r.id === id);
  return record ? record.name : id;
}

function chatTopic(id) {
  const chat = state.world.chats.find((c) => c.id === id);
  return chat ? chat.topic : id;
}

async function refreshAudit() {
  const events = await api("GET", "/_sandbox/audit");
  const rows = events.slice().reverse().map((event) => {
    const about = [
      event.entity && event.record ? `${event.entity} ${recordName(event.record)}` : event.entity,
      event.chat ? `chat ${chatTopic(event.chat)}` : null,
      event.reason ? `because ${event.reason}` : null,
    ].filter(Boolean).join(" · ");
    const when = event.at ? new Date(event.at).toLocaleTimeString() : "";
    return el("tr", { "data-action": event.action, "data-outcome": event.outcome },
      el("td", { text: when }),
      el("td", { text: event.actor ? nameOfAad(event.actor) : "" }),
      el("td", { text: event.action || "" }),
      el("td", { text: event.outcome || "" }),
      el("td", { text: about }));
  });
  const body = document.getElementById("audit-rows");
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", text: "No decisions yet." }))]));
}

// Records change hands (assign, share): the roles shown follow the world.
async function refreshPeople() {
  const world = await api("GET", "/_sandbox/world");
  state.world = { ...state.world, records: world.records, users: world.users };
  if (accessSignature() !== state.peopleShown) renderPeople();
}

let refreshing = null;
function refreshWorld() {
  // One refresh at a time; a request during one runs once it is done.
  if (refreshing) {
    refreshing.again = true;
    return refreshing.done;
  }
  const run = { again: false };
  run.done = (async () => {
    do {
      run.again = false;
      try {
        const transcripts = [...state.transcripts.keys()].map((key) => syncConversation(key));
        await Promise.all([refreshPeople(), refreshChats(), refreshAudit(), ...transcripts]);
        showLoadError("");
      } catch (error) {
        showLoadError(`Cannot read the sandbox: ${error.message}`);
      }
    } while (run.again);
    refreshing = null;
  })();
  refreshing = run;
  return run.done;
}

async function poll() {
  try {
    const { version } = await api("GET", "/_sandbox/events");
    if (version !== state.version) {
      state.version = version;
      await refreshWorld();
    }
  } catch (error) {
    showLoadError(`The sandbox is not answering (${error.message}). Is joinchat sandbox still running?`);
  }
  setTimeout(poll, POLL_MS);
}

// ---- tabs ------------------------------------------------------------------------------

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) select(tabs[(index + step + tabs.length) % tabs.length]);
      if (event.key === "Home") select(tabs[0]);
      if (event.key === "End") select(tabs[tabs.length - 1]);
    });
  });
}

// ---- start -----------------------------------------------------------------------------

// Without the renderer the server put what to install in a template; show it.
function showRendererHint() {
  const hint = document.getElementById("renderer-missing");
  if (AC || !hint) return;
  const banner = document.getElementById("renderer-banner");
  banner.replaceChildren(hint.content.cloneNode(true));
  banner.hidden = false;
}

async function start() {
  showRendererHint();
  wireTabs();
  wireComposer();
  try {
    state.world = await api("GET", "/_sandbox/world");
  } catch (error) {
    showLoadError(`Cannot read the world from the sandbox: ${error.message}`);
    return;
  }
  const first = state.world.users[0];
  state.current = first ? first.key : null;
  renderPeople();
  if (first) await selectUser(first.key);
  await refreshWorld();
  document.body.dataset.ready = "true";
  poll();
}

start();
