// The chat page: conversations kept in this browser, answers streamed from this server, and for
// each answer a badge saying where it ran. The cloud switch is per conversation and off by
// default; off sends "route": "local", so nothing leaves the device whatever the server allows.
import { ApiError, getJson, setApiKey, streamChat } from './api.js';
import { RateGraph } from './graph.js';
import { renderBadge, renderMarkdown } from './render.js';
import { DEFAULT_SETTINGS, activeId, loadConversations, newConversation, saveConversations, setActiveId } from './store.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('conversations'), messages: $('messages'), input: $('input'), send: $('send'), stop: $('stop'),
  model: $('model'), banner: $('banner'), allowCloud: $('allow-cloud'), route: $('route'),
  consentNote: $('consent-note'), system: $('system'), live: $('live'), liveRate: $('live-rate'),
};
const graph = new RateGraph($('rate'));

let conversations = loadConversations();
let current = null;
let policy = null; // GET /v1/router/policy
let streaming = null; // { controller } while an answer streams
let retryAfterKey = null;

function save() {
  current.updated = Date.now();
  if (!saveConversations(conversations)) showBanner('This browser would not store the conversation (storage full?); it is kept until the page closes.');
}

function showBanner(text, action) {
  ui.banner.replaceChildren(document.createTextNode(text));
  if (action) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = action.label;
    button.addEventListener('click', action.run);
    ui.banner.append(button);
  }
  ui.banner.hidden = false;
}

function hideBanner() {
  ui.banner.hidden = true;
}

// ---- conversations list ----

function select(conversation) {
  current = conversation;
  setActiveId(current.id);
  // Conversations stored by an older page (or edited by hand) may lack fields.
  current.settings = { ...DEFAULT_SETTINGS, ...(current.settings || {}) };
  if (typeof current.system !== 'string') current.system = '';
  ui.system.value = current.system || '';
  for (const name of ['temperature', 'top_p', 'max_tokens']) $(name).value = current.settings[name];
  if (current.model && [...ui.model.options].some((o) => o.value === current.model)) ui.model.value = current.model;
  applyPolicy();
  hideBanner();
  renderList();
  renderMessages();
}

function renderList() {
  ui.list.replaceChildren();
  const sorted = [...conversations].sort((a, b) => b.updated - a.updated);
  for (const c of sorted) {
    const li = document.createElement('li');
    li.className = c === current ? 'active' : '';
    const title = document.createElement('span');
    title.textContent = c.title;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.title = 'Delete conversation';
    remove.addEventListener('click', (e) => {
      e.stopPropagation();
      conversations = conversations.filter((x) => x !== c);
      if (!conversations.length) conversations.push(newConversation());
      saveConversations(conversations);
      if (c === current) select(conversations[0]);
      else renderList();
    });
    li.append(title, remove);
    li.addEventListener('click', () => {
      if (!streaming) select(c);
      $('sidebar').classList.remove('open');
    });
    ui.list.append(li);
  }
}

// ---- messages ----

function actionButton(label, run) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.addEventListener('click', run);
  return button;
}

function renderMessage(message, index) {
  const div = document.createElement('div');
  div.className = `msg ${message.role}`;
  const body = document.createElement('div');
  body.className = 'body';
  div.append(body);
  if (message.role === 'user') {
    body.textContent = message.content;
    const actions = document.createElement('div');
    actions.className = 'actions';
    actions.append(actionButton('Edit', () => editMessage(div, index)));
    div.append(actions);
  } else {
    renderMarkdown(body, message.content);
    if (message.stopped) {
      const note = document.createElement('div');
      note.className = 'stopped';
      note.textContent = 'stopped';
      div.append(note);
    }
    const badge = document.createElement('div');
    renderBadge(badge, message.meta, message.stats, message.sentRoute);
    div.append(badge);
    if (index === current.messages.length - 1) {
      const actions = document.createElement('div');
      actions.className = 'actions';
      actions.append(actionButton('Regenerate', regenerate));
      div.append(actions);
    }
  }
  return div;
}

function renderMessages() {
  ui.messages.replaceChildren(...current.messages.map(renderMessage));
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function editMessage(div, index) {
  if (streaming) return;
  const area = document.createElement('textarea');
  area.className = 'edit';
  area.value = current.messages[index].content;
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.append(
    actionButton('Save and resend', () => {
      current.messages = current.messages.slice(0, index);
      current.messages.push({ role: 'user', content: area.value });
      save();
      renderMessages();
      answer();
    }),
    actionButton('Cancel', renderMessages)
  );
  div.replaceChildren(area, actions);
  area.focus();
}

function regenerate() {
  if (streaming || !current.messages.length) return;
  if (current.messages.at(-1).role === 'assistant') current.messages.pop();
  save();
  renderMessages();
  answer();
}

// ---- the cloud switch ----

// Why the switch cannot be turned on here, or '' when it can.
function cloudUnavailable() {
  if (!policy) return 'The server has not said whether a cloud may be used; everything stays on this device.';
  if (policy.policy === 'local-only') return 'This server is local-only: nothing leaves this device.';
  if (policy.consent === 'never') return 'This server never sends to the cloud (--cloud-consent never).';
  if (!policy.cloud_configured) return 'No cloud endpoint is configured on this server.';
  return '';
}

function applyPolicy() {
  const reason = cloudUnavailable();
  ui.allowCloud.disabled = !!reason;
  ui.allowCloud.checked = !reason && !!current.allowCloud;
  ui.route.hidden = !ui.allowCloud.checked;
  ui.route.value = current.route === 'cloud' ? 'cloud' : 'auto';
  if (reason) ui.consentNote.textContent = reason;
  else if (ui.allowCloud.checked) ui.consentNote.textContent = `The router may send this conversation to ${policy.endpoints.join(', ')} (${policy.sensitive === 'redact' ? 'sensitive data redacted first' : `sensitive data: ${policy.sensitive}`}).`;
  else ui.consentNote.textContent = 'Off: this conversation stays on this device.';
}

// ---- sending ----

function requestBody() {
  const messages = [];
  if (current.system.trim()) messages.push({ role: 'system', content: current.system });
  for (const m of current.messages) messages.push({ role: m.role, content: m.content });
  const s = current.settings;
  const body = {
    model: ui.model.value || undefined,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number(s.temperature),
    top_p: Number(s.top_p),
    max_tokens: Math.max(1, Math.round(Number(s.max_tokens))),
  };
  body.bantam = ui.allowCloud.checked ? { cloud_consent: true, route: ui.route.value } : { route: 'local' };
  return body;
}

function setStreaming(on) {
  ui.send.hidden = on;
  ui.stop.hidden = !on;
  ui.live.hidden = !on;
}

async function answer() {
  hideBanner();
  const body = requestBody();
  // The route asked for, when the switch could have asked otherwise (for the badge's reason).
  const sentRoute = ui.allowCloud.disabled ? '' : body.bantam.route;
  const reply = { role: 'assistant', content: '', meta: null, stats: null, sentRoute };
  current.messages.push(reply);
  renderMessages();
  const view = ui.messages.lastElementChild.querySelector('.body');
  const badge = ui.messages.lastElementChild.querySelector('.badge');
  const controller = new AbortController();
  streaming = { controller };
  setStreaming(true);
  graph.reset();
  const start = performance.now();
  let first = 0;
  let tokens = 0;
  let usageTokens = null;
  let lastSample = { at: start, tokens: 0 };
  let pending = false;
  const sampler = setInterval(() => {
    const now = performance.now();
    const rate = ((tokens - lastSample.tokens) * 1000) / Math.max(1, now - lastSample.at);
    lastSample = { at: now, tokens };
    if (first) {
      graph.add(rate);
      ui.liveRate.textContent = `${rate.toFixed(1)} tokens/s`;
    }
  }, 250);
  try {
    await streamChat(
      body,
      (chunk) => {
        if (chunk.bantam && !reply.meta) {
          reply.meta = chunk.bantam; // where it runs is shown from the first event, not at the end
          renderBadge(badge, reply.meta, null, reply.sentRoute);
        }
        if (chunk.usage && Number.isInteger(chunk.usage.completion_tokens)) usageTokens = chunk.usage.completion_tokens;
        const delta = Array.isArray(chunk.choices) && chunk.choices[0] ? chunk.choices[0].delta : null;
        if (delta && typeof delta.content === 'string' && delta.content) {
          if (!first) first = performance.now();
          tokens += 1;
          reply.content += delta.content;
          if (!pending) {
            pending = true;
            requestAnimationFrame(() => {
              pending = false;
              renderMarkdown(view, reply.content);
              ui.messages.scrollTop = ui.messages.scrollHeight;
            });
          }
        }
      },
      controller.signal
    );
  } catch (error) {
    if (error.name !== 'AbortError') {
      // No answer: the person's message stays, ready to resend; a partial one is kept as stopped.
      if (!reply.content) current.messages.pop();
      reportError(error);
    }
    if (reply.content) reply.stopped = true;
  } finally {
    clearInterval(sampler);
    streaming = null;
    setStreaming(false);
  }
  if (first) {
    const end = performance.now();
    const count = usageTokens ?? tokens;
    // Tokens after the first over the time after it; an answer that arrived in one burst (under
    // 100 ms) is measured over the whole request instead, or the rate would mean nothing.
    const window = end - first >= 100 ? { tokens: count - 1, ms: end - first } : { tokens: count, ms: end - start };
    reply.stats = { ttftMs: first - start, tokensPerSecond: window.tokens > 0 && window.ms > 0 ? (window.tokens * 1000) / window.ms : null };
  }
  save();
  renderMessages();
  renderList();
}

function reportError(error) {
  if (!(error instanceof ApiError)) {
    showBanner(`Something went wrong: ${error.message}`);
    return;
  }
  if (error.kind === 'key') {
    askKey(() => answer());
    return;
  }
  if (error.kind === 'context') {
    showBanner(error.message, { label: 'Drop the oldest turns and resend', run: dropOldTurns });
    return;
  }
  showBanner(error.message, error.kind === 'unreachable' ? { label: 'Retry', run: () => answer() } : undefined);
}

// Keeps the newest half of the conversation (whole user/assistant turns) and resends.
function dropOldTurns() {
  const keep = Math.max(1, Math.floor(current.messages.length / 2));
  let from = current.messages.length - keep;
  while (from < current.messages.length - 1 && current.messages[from].role !== 'user') from += 1;
  current.messages = current.messages.slice(from);
  save();
  renderMessages();
  answer();
}

function send() {
  const text = ui.input.value.trim();
  if (!text || streaming) return;
  ui.input.value = '';
  if (!current.messages.length) current.title = text.slice(0, 40);
  current.messages.push({ role: 'user', content: text });
  save();
  renderList();
  renderMessages();
  answer();
}

// ---- the API key ----

function askKey(then) {
  retryAfterKey = then;
  const dialog = $('key-dialog');
  if (!dialog.open) dialog.showModal();
  $('key-input').focus();
}

$('key-form').addEventListener('submit', () => {
  setApiKey($('key-input').value.trim());
  $('key-input').value = '';
  const then = retryAfterKey;
  retryAfterKey = null;
  if (then) then();
});

// ---- start ----

async function loadServer() {
  try {
    const models = await getJson('/v1/models');
    const ids = Array.isArray(models.data) ? models.data.map((m) => m.id).filter((id) => typeof id === 'string') : [];
    ui.model.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (current.model && ids.includes(current.model)) ui.model.value = current.model;
    policy = await getJson('/v1/router/policy');
    hideBanner();
  } catch (error) {
    if (error instanceof ApiError && error.kind === 'key') askKey(loadServer);
    else showBanner(error.message, { label: 'Retry', run: loadServer });
  }
  applyPolicy();
}

function wire() {
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  ui.stop.addEventListener('click', () => streaming && streaming.controller.abort());
  $('new-chat').addEventListener('click', () => {
    if (streaming) return;
    const c = newConversation();
    conversations.push(c);
    save();
    select(c);
  });
  $('menu').addEventListener('click', () => $('sidebar').classList.toggle('open'));
  $('settings-toggle').addEventListener('click', () => ($('settings').hidden = !$('settings').hidden));
  ui.system.addEventListener('change', () => {
    current.system = ui.system.value;
    save();
  });
  for (const name of ['temperature', 'top_p', 'max_tokens']) {
    $(name).addEventListener('change', () => {
      current.settings[name] = Number($(name).value);
      save();
    });
  }
  ui.model.addEventListener('change', () => {
    current.model = ui.model.value;
    save();
  });
  ui.allowCloud.addEventListener('change', () => {
    current.allowCloud = ui.allowCloud.checked;
    save();
    applyPolicy();
  });
  ui.route.addEventListener('change', () => {
    current.route = ui.route.value;
    save();
  });
  const theme = localStorage.getItem('bantam.theme');
  if (theme) document.documentElement.dataset.theme = theme;
  $('theme').addEventListener('click', () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === 'dark'
      : matchMedia('(prefers-color-scheme: dark)').matches;
    document.documentElement.dataset.theme = dark ? 'light' : 'dark';
    localStorage.setItem('bantam.theme', document.documentElement.dataset.theme);
  });
}

wire();
if (!conversations.length) conversations.push(newConversation());
select(conversations.find((c) => c.id === activeId()) || conversations[0]);
loadServer();
