// Containers: the live list with status, image, ports, CPU and memory sparklines, actions.

import { get, post, del } from './api.js';
import { h, action, empty, errorBox, sparkline, updateSparkline, td, bytes, shortId } from './ui.js';

export function stateOf(c) { return (c.State || '').toLowerCase(); }

export function portLinks(ports) {
  const seen = new Set();
  const out = [];
  for (const p of ports || []) {
    if (!p.PublicPort) continue;
    const key = `${p.PublicPort}/${p.Type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const text = `${p.PublicPort}→${p.PrivatePort}/${p.Type}`;
    out.push(p.Type === 'tcp'
      ? h('a', { href: `http://${location.hostname}:${p.PublicPort}/`, target: '_blank', rel: 'noopener' }, text)
      : h('span', {}, text), ' ');
  }
  return out.length ? out : ['—'];
}

export function lifecycleButtons(c, where, after) {
  const id = c.Id;
  const st = stateOf(c);
  const run = (label, fn, cls) => action(label, async () => { await fn(); await after(); }, { where, cls, title: `${label} ${name(c)}` });
  const out = [];
  if (st === 'running') {
    out.push(run('Stop', () => post(`/containers/${id}/stop`)));
    out.push(run('Restart', () => post(`/containers/${id}/restart`)));
    out.push(run('Pause', () => post(`/containers/${id}/pause`)));
  } else if (st === 'paused') {
    out.push(run('Resume', () => post(`/containers/${id}/unpause`)));
  } else {
    out.push(run('Start', () => post(`/containers/${id}/start`), 'primary'));
  }
  out.push(run('Remove', async () => {
    if (!confirm(`Remove container ${name(c)}${st === 'running' ? ' (it is running: it will be killed)' : ''}?`)) return;
    await del(`/containers/${id}`, { force: 1, v: 0 });
  }, 'danger'));
  return out;
}

export const name = (c) => ((c.Names && c.Names[0]) || '/' + shortId(c.Id)).replace(/^\//, '');

export async function render(view, ctx) {
  const status = h('div', { role: 'status', 'aria-live': 'polite' });
  const filter = h('input', { type: 'search', placeholder: 'Filter by name or image', 'aria-label': 'Filter containers' });
  const showAll = h('input', { type: 'checkbox', id: 'showall', checked: true });
  const body = h('div', { id: 'container-list' });
  view.append(
    h('h1', {}, 'Containers'),
    h('div', { class: 'toolbar' }, filter, h('label', {}, showAll, ' show stopped'),
      h('span', { class: 'grow' }),
      action('Remove stopped', async () => {
        const r = await post('/containers/prune');
        status.replaceChildren(h('div', { class: 'ok-msg' }, `Removed ${(r.ContainersDeleted || []).length} containers, reclaimed ${bytes(r.SpaceReclaimed)}`));
        await load();
      }, { where: () => status })),
    status, body);

  let list = [];
  const rows = new Map();  // id -> {cpu svg, mem svg, cpuText, memText}
  let cache = new Map();  // id -> {sig, tr, msgRow, refs}
  let tbody = null;

  const msgs = new Map();  // id -> the row's message cell, kept when the row is rebuilt
  function buildRow(c, st, sig) {
    const msg = msgs.get(c.Id) || h('td', { colspan: 7, role: 'status' });
    msgs.set(c.Id, msg);
    const hist = (st === 'running' && ctx.history.get(c.Id)) || [];
    const cpuSvg = sparkline(hist.map((s) => s.cpu));
    const memSvg = sparkline(hist.map((s) => s.mem));
    const last = hist[hist.length - 1];
    const cpuText = h('span', {}, st === 'running' && last ? `${last.cpu.toFixed(1)}%` : '—');
    const memText = h('span', {}, st === 'running' && last ? bytes(last.mem) : '—');
    const tr = h('tr', { 'data-id': c.Id, 'data-name': name(c), 'data-state': st },
      td('Name', h('a', { href: `#/containers/${encodeURIComponent(c.Id)}` }, name(c))),
      td('Image', c.Image),
      td('Status', h('span', { class: `badge ${st}`, 'data-state': st }, st), ' ', h('span', { class: 'muted' }, c.Status)),
      td('Ports', ...portLinks(c.Ports)),
      td('CPU', h('span', { class: 'spark' }, cpuSvg, cpuText)),
      td('Memory', h('span', { class: 'spark' }, memSvg, memText)),
      h('td', { class: 'actions' }, lifecycleButtons(c, () => msg, load)));
    return { sig, tr, msgRow: h('tr', { class: 'rowmsg' }, msg), refs: { cpuSvg, memSvg, cpuText, memText } };
  }

  async function load() {
    try {
      list = await get('/containers/json', { all: 1 });
      draw();
    } catch (err) {
      body.replaceChildren(errorBox(err.message));
    }
  }

  function draw() {
    if (!ctx.current()) return;
    const q = filter.value.trim().toLowerCase();
    const shown = list.filter((c) => (showAll.checked || stateOf(c) === 'running')
      && (!q || name(c).toLowerCase().includes(q) || (c.Image || '').toLowerCase().includes(q)));
    rows.clear();
    if (!list.length) {
      tbody = null;
      body.replaceChildren(empty('No containers yet.', 'Start one from a terminal: ', h('code', {}, 'wharfie run -d --name web -p 8080:80 busybox httpd -f -p 80'), '. It appears here at once.'));
      return;
    }
    if (!shown.length) { tbody = null; body.replaceChildren(empty('No container matches.', 'Clear the filter or tick “show stopped”.')); return; }
    // Rows are kept while their container is unchanged, so focus and hover survive the
    // live updates; a changed row is rebuilt and gets the focus back on the same button.
    const focused = document.activeElement && document.activeElement.getAttribute('aria-label');
    const trs = [];
    const next = new Map();
    for (const c of shown) {
      const st = stateOf(c);
      const sig = JSON.stringify([name(c), c.Image, st, c.Status, c.Ports]);
      let built = cache.get(c.Id);
      if (!built || built.sig !== sig) built = buildRow(c, st, sig);
      next.set(c.Id, built);
      rows.set(c.Id, built.refs);
      trs.push(built.tr, built.msgRow);
    }
    cache = next;
    if (!tbody || !body.contains(tbody)) {
      tbody = h('tbody');
      body.replaceChildren(h('table', { class: 'cards' },
        h('thead', {}, h('tr', {}, ['Name', 'Image', 'Status', 'Ports', 'CPU', 'Memory', 'Actions'].map((x) => h('th', { scope: 'col' }, x)))),
        tbody));
    }
    const current = [...tbody.children];
    if (current.length !== trs.length || current.some((x, i) => x !== trs[i])) tbody.replaceChildren(...trs);
    if (focused && !document.activeElement.getAttribute('aria-label')) {
      const again = tbody.querySelector(`[aria-label="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    if (document.body.dataset.ready !== 'containers') performance.mark('list-ready');
    document.body.dataset.ready = 'containers';
  }

  let timer = 0;
  const soon = () => { clearTimeout(timer); timer = setTimeout(load, 120); };
  const offEvents = ctx.onEvent((ev) => { if (ev.Type === 'container') soon(); });
  const offStats = ctx.onStats((line) => {
    for (const [id, r] of rows) {
      const hist = ctx.history.get(id);
      if (!hist || !line.stats[id]) continue;
      updateSparkline(r.cpuSvg, hist.map((s) => s.cpu));
      updateSparkline(r.memSvg, hist.map((s) => s.mem));
      const last = hist[hist.length - 1];
      r.cpuText.textContent = `${last.cpu.toFixed(1)}%`;
      r.memText.textContent = bytes(last.mem);
    }
  });
  filter.addEventListener('input', draw);
  showAll.addEventListener('change', draw);
  await load();
  const tick = setInterval(load, 15000);  // "Up 2 minutes" stays true
  return () => { offEvents(); offStats(); clearTimeout(timer); clearInterval(tick); };
}
