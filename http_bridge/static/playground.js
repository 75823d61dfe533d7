// agenthost playground: plain JavaScript, no framework, no build step. It speaks the native API like any
// client: GET /api/agents, then POST /api/chat/stream read as Server-Sent Events from a fetch stream.
// Everything shown is inserted as text (textContent, text nodes), never parsed as HTML.
'use strict';

const KEY_STORE = 'agenthost.apiKey';

/** Server-Sent Events parser: feed it text as it arrives; it calls back once per whole event. */
class SSEParser {
  constructor(onEvent, onComment = () => {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.data = [];
    this.event = '';
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    const lines = /\r\n|\r|\n/g;
    let start = 0;
    let match;
    while ((match = lines.exec(this.buffer)) !== null) {
      if (match[0] === '\r' && lines.lastIndex === this.buffer.length) break; // maybe half of \r\n
      this.line(this.buffer.slice(start, match.index));
      start = lines.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** The stream ended: a last lone \r ends its line (an event not ended by a blank line is dropped). */
  end() {
    if (this.buffer.endsWith('\r')) this.line(this.buffer.slice(0, -1));
    this.buffer = '';
    this.reset();
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      this.reset();
    } else if (line.startsWith(':')) {
      this.onComment(line.slice(1).trim());
    } else {
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id') this.id = value;
    }
  }
}

async function readEvents(body, onEvent, onComment) {
  const parser = new SSEParser(onEvent, onComment);
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return parser.end();
    parser.push(value);
  }
}

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function httpError(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || 'request failed';
  try {
    const body = await response.json();
    const error = body.error || {};
    code = error.code || error.type || code;
    message = error.message || message;
  } catch (_) { /* not JSON: keep the status line */ }
  return new HttpError(response.status, code, message);
}

function authHeaders(extra) {
  const key = localStorage.getItem(KEY_STORE) || '';
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

function notice(text) {
  $('notice').textContent = text || '';
  $('notice').hidden = !text;
}

function askForKey(error) {
  notice(`${error.status} ${error.code}: ${error.message}. This server needs an API key: enter it above.`);
  $('key-form').classList.add('wanted');
  $('api-key').focus();
}

function showHttpError(error) {
  if (error.status === 401) askForKey(error);
  else notice(`${error.status} ${error.code}: ${error.message}`);
}

function scrollDown() {
  const log = $('transcript');
  log.scrollTop = log.scrollHeight;
}

/** One turn in the transcript: the user's message, then the reply as it streams in. */
class TurnView {
  constructor(agent, text) {
    this.agent = agent;
    this.segment = null;
    this.calls = new Map();
    this.chars = 0;
    const turn = el('article', 'turn');
    const user = el('div', 'user');
    user.append(el('span', 'speaker', 'you'), el('div', 'text', text));
    this.reply = el('div', 'reply');
    this.reply.dataset.state = 'running';
    turn.append(user, this.reply);
    $('transcript').append(turn);
    scrollDown();
  }

  /** The segment that `source` speaks in: a new one when the speaker changes or a message ended. */
  speaker(source) {
    const name = source || this.agent;
    if (!this.segment || this.segment.name !== name) {
      const node = el('div', 'segment');
      node.dataset.source = name;
      const text = document.createTextNode('');
      const body = el('div', 'text');
      body.append(text);
      node.append(el('span', 'speaker', name), body);
      this.reply.append(node);
      this.segment = { name, text, fresh: true };
    }
    return this.segment;
  }

  chunk(source, content) {
    const segment = this.speaker(source);
    let text = content || '';
    if (segment.fresh) { // the speaker label shows what the team's "**member:** " prefix says
      text = text.replace(/^\n+/, '');
      const prefix = `**${segment.name}:** `;
      if (text.startsWith(prefix)) text = text.slice(prefix.length);
      segment.fresh = text === '';
    }
    segment.text.appendData(text);
    this.chars += text.length;
    scrollDown();
  }

  message(source, content) {
    const name = source || this.agent;
    const streamed = this.segment && this.segment.name === name && !this.segment.fresh;
    if (!streamed && content) this.chunk(name, content); // a message that came without chunks
    this.segment = null;
  }

  thought(source, content) {
    this.segment = null;
    this.reply.append(el('div', 'thought', `${source || this.agent} thinks: ${content || ''}`));
  }

  toolCall(data) {
    this.segment = null;
    const box = el('details', 'tool');
    box.open = true;
    box.dataset.callId = data.id || '';
    const summary = el('summary', null, `tool call: ${data.name}`);
    if (data.source) summary.append(el('span', 'muted', ` by ${data.source}`));
    box.append(summary, el('pre', 'arguments', data.arguments));
    this.reply.append(box);
    this.calls.set(data.id, box);
    scrollDown();
  }

  toolResult(data) {
    this.segment = null;
    let box = this.calls.get(data.id);
    if (!box) {
      box = el('details', 'tool');
      box.open = true;
      box.append(el('summary', null, `tool result: ${data.name}`));
      this.reply.append(box);
    }
    const result = el('div', data.is_error ? 'result failed' : 'result');
    result.append(el('span', 'label', data.is_error ? 'error' : 'result'), el('pre', null, data.content));
    box.append(result);
    scrollDown();
  }

  end(state, text) {
    this.reply.dataset.state = state;
    this.reply.append(el('div', `end ${state}`, text));
    scrollDown();
  }

  done(data) {
    if (!this.chars && data.message) this.chunk(null, data.message);
    const usage = data.usage || {};
    const tokens = `${usage.prompt_tokens ?? 0} + ${usage.completion_tokens ?? 0} tokens`;
    this.end('done', `${data.finish_reason || 'stop'} · ${tokens}`);
  }

  error(code, message) {
    const box = el('div', 'end error');
    box.setAttribute('role', 'alert');
    box.append(el('strong', 'code', code), document.createTextNode(`: ${message}`));
    this.reply.dataset.state = 'error';
    this.reply.append(box);
    scrollDown();
  }
}

const timeline = {
  count: 0,
  mark(label) {
    $('timeline').append(el('li', 'mark', label));
  },
  add(event) {
    const item = el('li', 'event');
    item.dataset.event = event.event;
    item.append(el('span', 'id', event.id ?? '–'), el('span', 'name', event.event), el('code', 'data', event.data));
    $('timeline').append(item);
    this.count += 1;
    $('event-count').textContent = String(this.count);
    $('timeline-panel').scrollTop = $('timeline-panel').scrollHeight;
  },
  clear() {
    $('timeline').replaceChildren();
    this.count = 0;
    $('event-count').textContent = '0';
  },
};

const state = { conversationId: null, turn: null, turns: 0 };

function setConversation(id) {
  state.conversationId = id || null;
  $('conversation').textContent = id ? `conversation ${id.length > 12 ? `${id.slice(0, 8)}…` : id}` : 'new conversation';
  $('conversation').title = id ? `conversation id: ${id}` : 'no conversation yet';
  $('conversation').dataset.id = id || '';
}

function setRunning(running) {
  $('send').disabled = running;
  $('cancel').disabled = !running;
  $('agent').disabled = running;
}

function runIdFrom(location) {
  const match = /\/api\/runs\/([^/?#]+)\/stream/.exec(location || '');
  return match ? decodeURIComponent(match[1]) : null;
}

function onEvent(turn, event) {
  timeline.add(event);
  let data = {};
  try { data = JSON.parse(event.data) || {}; } catch (_) { /* shown raw in the timeline */ }
  if (data.run_id && !turn.runId) turn.runId = data.run_id;
  if (data.conversation_id) setConversation(data.conversation_id);
  const view = turn.view;
  switch (event.event) {
    case 'status': if (data.status === 'thinking') view.thought(data.source, data.content); break;
    case 'chunk': view.chunk(data.source, data.content); break;
    case 'message': view.message(data.source, data.content); break;
    case 'tool_call': view.toolCall(data); break;
    case 'tool_result': view.toolResult(data); break;
    case 'done': turn.ended = true; view.done(data); break;
    case 'error':
      turn.ended = true;
      // a turn stopped by Cancel may end with the server's own "cancelled" before the page leaves the stream
      if (data.code === 'cancelled') view.end('cancelled', `cancelled: ${data.message}`);
      else view.error(data.code, data.message);
      break;
    default: break;
  }
}

async function send(text) {
  if (state.turn || !text.trim()) return;
  const agent = $('agent').value;
  const turn = { controller: new AbortController(), runId: null, ended: false, view: new TurnView(agent, text) };
  state.turn = turn;
  state.turns += 1;
  setRunning(true);
  timeline.mark(`turn ${state.turns} · ${agent}`);
  const body = { message: text, agent };
  if (state.conversationId) body.conversation_id = state.conversationId;
  try {
    const response = await fetch('/api/chat/stream', {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
      body: JSON.stringify(body),
      signal: turn.controller.signal,
    });
    if (!response.ok) throw await httpError(response);
    notice('');
    turn.runId = runIdFrom(response.headers.get('Location'));
    if (response.headers.get('X-Conversation-ID')) setConversation(response.headers.get('X-Conversation-ID'));
    await readEvents(response.body, (event) => onEvent(turn, event));
    if (!turn.ended) turn.view.error('stream_ended', 'the stream ended without a done or error event');
  } catch (error) {
    if (turn.controller.signal.aborted) {
      if (!turn.ended) turn.view.end('cancelled', 'cancelled');
    }
    else if (error instanceof HttpError) {
      turn.view.error(`${error.status} ${error.code}`, error.message);
      if (error.status === 401) askForKey(error);
      if (!$('message').value) $('message').value = text; // to send again, e.g. after entering the key
    } else turn.view.error('network_error', error.message || String(error));
  } finally {
    state.turn = null;
    setRunning(false);
  }
}

/** Stops the turn: asks the server to cancel its run (when it names one), and leaves the stream. */
async function cancel() {
  const turn = state.turn;
  if (!turn || turn.controller.signal.aborted) return;
  $('cancel').disabled = true;
  if (turn.runId) {
    const url = `/api/runs/${encodeURIComponent(turn.runId)}/cancel`;
    try {
      await fetch(url, { method: 'POST', headers: authHeaders({}), signal: AbortSignal.timeout(3000) });
    } catch (_) { /* leaving the stream below cancels the turn too */ }
  }
  turn.controller.abort();
}

async function loadAgents() {
  const response = await fetch('/api/agents', { headers: authHeaders({ Accept: 'application/json' }) });
  if (!response.ok) {
    showHttpError(await httpError(response));
    return;
  }
  const listing = await response.json();
  const select = $('agent');
  const previous = select.value;
  select.replaceChildren(...listing.agents.map((agent) => {
    const option = el('option', null, agent.name);
    option.value = agent.name;
    option.dataset.description = agent.description || '';
    return option;
  }));
  const names = listing.agents.map((agent) => agent.name);
  select.value = [previous, listing.default].find((name) => names.includes(name)) || names[0] || '';
  describeAgent();
  notice('');
  $('key-form').classList.remove('wanted');
}

function describeAgent() {
  const option = $('agent').selectedOptions[0];
  $('agent-description').textContent = option ? option.dataset.description : '';
}

function newConversation(note) {
  setConversation(null);
  if (note) {
    $('transcript').append(el('div', 'divider', note));
    scrollDown();
  } else {
    $('transcript').replaceChildren();
    timeline.clear();
    state.turns = 0;
  }
}

function submitMessage() {
  const text = $('message').value;
  if (!text.trim() || state.turn) return;
  $('message').value = '';
  send(text);
}

function start() {
  $('api-key').value = localStorage.getItem(KEY_STORE) || '';
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('api-key').value.trim();
    if (key) localStorage.setItem(KEY_STORE, key);
    else localStorage.removeItem(KEY_STORE);
    loadAgents().catch((error) => notice(`cannot list the agents: ${error.message}`));
    $('message').focus();
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    submitMessage();
  });
  $('message').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitMessage();
    } else if (event.key === 'Escape') cancel();
  });
  $('cancel').addEventListener('click', cancel);
  $('new-conversation').addEventListener('click', async () => {
    await cancel();
    newConversation();
  });
  $('agent').addEventListener('change', () => {
    describeAgent();
    // a conversation belongs to one agent: another agent starts a new one
    if (state.conversationId) newConversation(`new conversation with ${$('agent').value}`);
  });
  loadAgents().catch((error) => notice(`cannot list the agents: ${error.message}`));
  $('message').focus();
}

window.agenthostPlayground = { SSEParser }; // for tests and the console
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
