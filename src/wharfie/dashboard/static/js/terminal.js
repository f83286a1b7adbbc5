// A terminal into the container: exec (sh, with a TTY) through a WebSocket, with resize.

import { Terminal } from '../vendor/xterm.mjs';
import { FitAddon } from '../vendor/addon-fit.mjs';
import { post, request } from './api.js';
import { h, errorBox } from './ui.js';

export function mount(el, c) {
  const msg = h('div');
  const box = h('div', { class: 'term', id: 'terminal' });
  const shell = h('input', { value: '/bin/sh', 'aria-label': 'Command to run', size: 14 });
  const again = h('button', { type: 'button' }, 'Reconnect');
  el.append(h('div', { class: 'toolbar' }, h('label', {}, 'Command ', shell), again), msg, box);
  if (!c.State.Running) {
    msg.replaceChildren(errorBox('The container is not running: start it to open a terminal.'));
  }
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const term = new Terminal({ cursorBlink: true, fontSize: 14, convertEol: false,
    theme: dark ? { background: '#000000' } : { background: '#111418' } });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  try { fit.fit(); } catch (_) { /* hidden */ }
  let ws = null, execId = null, closed = false;

  async function connect() {
    if (ws) ws.close();
    msg.replaceChildren();
    try {
      const cmd = shell.value.trim().split(/\s+/).filter(Boolean);
      const created = await post(`/containers/${c.Id}/exec`, undefined, {
        AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: cmd.length ? cmd : ['/bin/sh'],
        Env: ['TERM=xterm-256color'] });
      execId = created.Id;
    } catch (err) { msg.replaceChildren(errorBox(err.message)); return; }
    if (closed) return;  // the tab was left while the exec was being created
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.host}/dash/exec/${execId}?rows=${term.rows}&cols=${term.cols}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { showSize(); box.dataset.connected = 'true'; term.focus(); };
    ws.onmessage = (e) => term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
    ws.onclose = () => {
      box.dataset.connected = 'false';
      if (!closed) term.write('\r\n\x1b[2m[session ended: press Reconnect for a new one]\x1b[0m\r\n');
    };
    ws.onerror = () => msg.replaceChildren(errorBox('The terminal connection failed (is the container still running?).'));
  }
  term.onData((d) => { if (ws && ws.readyState === 1) ws.send(new TextEncoder().encode(d)); });
  const showSize = () => { box.dataset.size = `${term.rows} ${term.cols}`; };
  term.onResize(({ rows, cols }) => {
    showSize();
    if (execId) request('POST', `/exec/${execId}/resize`, { query: { h: rows, w: cols } }).catch(() => {});
  });
  const onResize = () => { try { fit.fit(); } catch (_) { /* hidden */ } };
  window.addEventListener('resize', onResize);
  again.addEventListener('click', connect);
  if (c.State.Running) connect();
  return () => { closed = true; window.removeEventListener('resize', onResize); if (ws) ws.close(); term.dispose(); };
}
