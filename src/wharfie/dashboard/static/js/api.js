// The daemon's Engine API through the dashboard listener (/api/...), plus the
// connection watcher: every failed request that looks like a lost daemon flips the
// page into "reconnecting" until /api/_ping answers again.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const listeners = new Set();
let online = true;
let probing = false;

export function onConnection(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function isOnline() { return online; }

function setOnline(value) {
  if (value === online) return;
  online = value;
  for (const fn of listeners) fn(online);
  if (!online) probe();
}

async function probe() {
  if (probing) return;
  probing = true;
  while (!online) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const r = await fetch('/api/_ping', { cache: 'no-store' });
      if (r.ok) setOnline(true);
      else if (r.status === 401 || r.status === 403) { setOnline(true); location.reload(); }
    } catch (_) { /* still down */ }
  }
  probing = false;
}

export function lost() { setOnline(false); }

async function errorOf(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const text = await resp.text();
    try { message = JSON.parse(text).message || message; } catch (_) { if (text) message = text; }
  } catch (_) { /* body gone */ }
  return new ApiError(resp.status, message);
}

export async function request(method, path, { query, body, raw, base = '/api' } = {}) {
  let url = base + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const init = { method, cache: 'no-store', headers: {} };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (err) {
    lost();
    throw new ApiError(0, 'Cannot reach wharfied: the connection was lost. Retrying…');
  }
  if (resp.status === 502 || resp.status === 504) lost();
  if (resp.status === 401 || resp.status === 403) {
    const e = await errorOf(resp);
    throw new ApiError(resp.status, `${e.message}: open the URL printed by \`wharfie dashboard\``);
  }
  if (!resp.ok) throw await errorOf(resp);
  if (raw) return resp;
  if (resp.status === 204 || resp.status === 304) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, query, body) => request('POST', path, { query, body });
export const del = (path, query) => request('DELETE', path, { query });

// Read a chunked body as it arrives. onChunk(Uint8Array); returns when the stream ends.
export async function readStream(resp, onChunk, signal) {
  const reader = resp.body.getReader();
  if (signal) signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}

// A stream of JSON lines (events, pull progress, the dashboard's stats).
export async function jsonLines(resp, onObject, signal) {
  const dec = new TextDecoder();
  let buf = '';
  await readStream(resp, (chunk) => {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onObject(JSON.parse(line));
    }
  }, signal);
  if (buf.trim()) onObject(JSON.parse(buf));
}

// Docker's multiplexed stream (8-byte frame headers) of a container without a TTY.
export class Demux {
  constructor(onFrame) { this.onFrame = onFrame; this.buf = new Uint8Array(0); }
  feed(chunk) {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf); b.set(chunk, this.buf.length);
    let off = 0;
    while (b.length - off >= 8) {
      const size = ((b[off + 4] << 24) >>> 0) + (b[off + 5] << 16) + (b[off + 6] << 8) + b[off + 7];
      if (b.length - off < 8 + size) break;
      this.onFrame(b[off], b.subarray(off + 8, off + 8 + size));
      off += 8 + size;
    }
    this.buf = b.slice(off);
  }
}
