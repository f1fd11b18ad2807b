// Talks to the server this page came from (never anywhere else: the page's CSP allows only 'self').
// The API key, when the server asks for one, is kept for this browser tab only (sessionStorage).

const KEY_ITEM = 'bantam.apiKey';

export class ApiError extends Error {
  constructor(message, { status = 0, code = '', kind = 'server' } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.kind = kind; // 'unreachable' | 'key' | 'context' | 'refused' | 'safety' | 'server'
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

function headers(extra = {}) {
  const h = { ...extra };
  const key = apiKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// The server's error body in words a person can act on.
async function errorOf(response) {
  let message = `the server answered HTTP ${response.status}`;
  let code = '';
  try {
    const body = await response.json();
    const error = body && typeof body === 'object' ? body.error : null;
    if (error && typeof error.message === 'string') message = error.message;
    if (error && typeof error.code === 'string') code = error.code;
  } catch {
    // not JSON: keep the status line
  }
  return classify(message, response.status, code);
}

function classify(message, status, code) {
  if (status === 401) return new ApiError('This server needs an API key.', { status, code, kind: 'key' });
  // The router refuses with a 400 only a prompt too long for the device that may not go to the cloud.
  if (code === 'context_length_exceeded' || (code === 'route_refused' && status === 400)) {
    return new ApiError(`The conversation no longer fits the model's context: ${message}`, { status, code, kind: 'context' });
  }
  if (code === 'content_filter') return new ApiError(`Refused by a safety rule: ${message}`, { status, code, kind: 'safety' });
  if (code === 'route_refused') return new ApiError(`Refused by the routing rules: ${message}`, { status, code, kind: 'refused' });
  return new ApiError(message, { status, code });
}

function unreachable() {
  return new ApiError(`Cannot reach the server at ${location.host}. Is \`bantam serve\` still running?`, { kind: 'unreachable' });
}

export async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: headers() });
  } catch {
    throw unreachable();
  }
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

// Streams a chat completion: onChunk gets each parsed event object. Resolves when the stream ends;
// rejects with ApiError (AbortError when stopped).
export async function streamChat(body, onChunk, signal) {
  let response;
  try {
    response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw unreachable();
  }
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    let part;
    try {
      part = await reader.read();
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError('The connection to the server broke off mid-answer.', { kind: 'unreachable' });
    }
    if (part.done) break;
    buffer += decoder.decode(part.value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data);
        if (chunk && chunk.error) {
          const e = chunk.error;
          throw classify(typeof e.message === 'string' ? e.message : 'the answer failed', 200, typeof e.code === 'string' ? e.code : '');
        }
        onChunk(chunk);
      }
    }
  }
}
