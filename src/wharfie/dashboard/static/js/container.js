// One container: inspect facts, live logs with search and follow, charts, top, diff, terminal.

import { get, request, readStream, Demux, ApiError } from './api.js';
import { h, empty, errorBox, dl, bytes, table, td, shortId } from './ui.js';
import { lifecycleButtons, portLinks, stateOf } from './containers.js';

const TABS = ['Overview', 'Logs', 'Stats', 'Processes', 'Changes', 'Terminal'];

export async function render(view, ctx, ref) {
  let c;
  const cleanups = [];
  const offEvents = ctx.onEvent((ev) => {
    if (ev.Type !== 'container') return;
    const attrs = (ev.Actor && ev.Actor.Attributes) || {};
    const mine = ev.Actor && (ev.Actor.ID === ref || attrs.name === ref || (c && ev.Actor.ID === c.Id));
    if (!mine) return;
    if (['exec_create', 'exec_start', 'exec_die', 'top', 'resize', 'attach'].some((a) => (ev.Action || '').startsWith(a))) return;
    if (ev.Action === 'destroy' || !c) { reload(); return; }
    refreshHeader();
  });

  async function inspect() {
    try { return await get(`/containers/${encodeURIComponent(ref)}/json`); } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  async function reload() {
    for (const f of cleanups.splice(0)) f();
    try { c = await inspect(); } catch (err) { view.replaceChildren(errorBox(err.message)); return; }
    if (!ctx.current()) return;
    if (!c) {
      view.replaceChildren(h('h1', {}, `Container ${ref}`), empty('This container does not exist (any more).',
        'It may have been removed. This page comes back by itself if a container with this name or id is created again. ',
        h('a', { href: '#/containers' }, 'Back to the containers')));
      view.dataset.state = 'gone';
      return;
    }
    view.dataset.state = 'shown';
    draw();
  }

  const header = h('div');
  const actionsMsg = h('div');
  async function refreshHeader() {
    const fresh = await inspect().catch(() => null);
    if (!fresh) { reload(); return; }
    c = fresh;
    drawHeader();
  }

  function drawHeader() {
    const st = c.State.Paused ? 'paused' : (c.State.Status || '').toLowerCase();
    const summary = { Id: c.Id, Names: [c.Name], State: st };
    header.replaceChildren(
      h('h1', {}, c.Name.replace(/^\//, ''), ' ', h('span', { class: `badge ${st}`, id: 'detail-state', 'data-state': st }, st)),
      h('div', { class: 'toolbar' }, lifecycleButtons(summary, () => actionsMsg, refreshHeader)),
      actionsMsg);
  }

  let tabBody, tabButtons;
  function draw() {
    drawHeader();
    tabBody = h('div', { class: 'panel', role: 'tabpanel', id: 'tabpanel' });
    tabButtons = TABS.map((t, i) => h('button', {
      type: 'button', role: 'tab', id: `tab-${t.toLowerCase()}`, 'aria-controls': 'tabpanel',
      onclick: () => select(t),
      onkeydown: (e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          const j = (i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length;
          tabButtons[j].focus(); select(TABS[j]);
        }
      },
    }, t));
    view.replaceChildren(h('p', {}, h('a', { href: '#/containers' }, '← Containers')), header,
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Container details' }, tabButtons), tabBody);
    select(sessionStorage.getItem('wharfie.tab') || 'Overview');
  }

  function select(tab) {
    if (!TABS.includes(tab)) tab = 'Overview';
    sessionStorage.setItem('wharfie.tab', tab);
    for (const f of cleanups.splice(0)) f();
    for (const b of tabButtons) b.setAttribute('aria-selected', String(b.textContent === tab));
    tabBody.replaceChildren();
    tabBody.setAttribute('aria-labelledby', `tab-${tab.toLowerCase()}`);
    const fn = { Overview: overview, Logs: logs, Stats: stats, Processes: top, Changes: changes, Terminal: terminal }[tab];
    const off = fn(tabBody);
    if (off) cleanups.push(off);
  }

  function overview(el) {
    const cfg = c.Config || {};
    const ports = Object.entries((c.NetworkSettings || {}).Ports || {}).flatMap(([k, v]) =>
      (v || []).map((b) => ({ PublicPort: +b.HostPort, PrivatePort: +k.split('/')[0], Type: k.split('/')[1] })));
    const nets = Object.entries((c.NetworkSettings || {}).Networks || {}).map(([n, v]) => `${n} ${v.IPAddress || ''}`).join(', ');
    el.append(dl([
      ['Id', shortId(c.Id)], ['Image', cfg.Image], ['Command', [c.Path, ...(c.Args || [])].join(' ')],
      ['Created', new Date(c.Created).toLocaleString()],
      ['Started', c.State.StartedAt && !c.State.StartedAt.startsWith('0001') ? new Date(c.State.StartedAt).toLocaleString() : 'never'],
      c.State.Running ? null : ['Exit code', String(c.State.ExitCode)],
      c.State.Error ? ['Error', c.State.Error] : null,
      ['Ports', h('span', {}, ...portLinks(ports))],
      ['Networks', nets || '—'], ['Mounts', (c.Mounts || []).map((m) => `${m.Source || m.Name} → ${m.Destination}`).join(', ') || '—'],
      ['Restart policy', ((c.HostConfig || {}).RestartPolicy || {}).Name || 'no'],
    ].filter(Boolean)), h('details', {}, h('summary', {}, 'Full inspect JSON'), h('pre', {}, JSON.stringify(c, null, 2))));
  }

  function logs(el) {
    const search = h('input', { type: 'search', placeholder: 'Search the log', 'aria-label': 'Search the log' });
    const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
    const count = h('span', { class: 'muted' });
    const pre = h('pre', { id: 'logview', tabindex: '0', 'aria-label': 'Container log', 'aria-live': 'off' });
    const msg = h('div');
    el.append(h('div', { class: 'toolbar' }, search, h('label', {}, follow, ' follow'), count), msg, pre);
    const lines = [];
    let partial = '';
    const abort = new AbortController();
    const add = (text) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop();
      for (const line of parts) {
        lines.push(line);
        if (lines.length > 5000) lines.shift();
        if (matches(line)) appendLine(line);
      }
      showCount();
      if (pre.childNodes.length > 5000) pre.firstChild.remove();
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
    };
    const showCount = () => {
      count.textContent = search.value ? `${pre.childNodes.length} of ${lines.length} lines match` : `${lines.length} lines`;
    };
    const matches = (line) => !search.value || line.toLowerCase().includes(search.value.toLowerCase());
    const appendLine = (line) => pre.append(h('div', { class: search.value ? 'hit' : '' }, line || ' '));
    search.addEventListener('input', () => {
      pre.replaceChildren();
      for (const l of lines) if (matches(l)) appendLine(l);
      showCount();
    });
    (async () => {
      let since = 0;
      const dec = new TextDecoder();
      while (!abort.signal.aborted) {
        try {
          const resp = await request('GET', `/containers/${c.Id}/logs`, {
            raw: true, query: { follow: 1, stdout: 1, stderr: 1, tail: since ? undefined : 500, since: since || undefined } });
          msg.replaceChildren();
          const demux = c.Config.Tty ? null : new Demux((_s, data) => add(dec.decode(data, { stream: true })));
          await readStream(resp, (chunk) => (demux ? demux.feed(chunk) : add(dec.decode(chunk, { stream: true }))), abort.signal);
        } catch (err) {
          if (abort.signal.aborted) return;
          msg.replaceChildren(errorBox(err.message));
        }
        since = Math.floor(Date.now() / 1000);
        // the stream ends when the container stops; it is reopened when it runs again
        await new Promise((r) => setTimeout(r, 1500));
      }
    })();
    return () => abort.abort();
  }

  function stats(el) {
    let off = null, dead = false;
    import('./charts.js').then((m) => { if (!dead) off = m.mount(el, ctx, c.Id); });
    return () => { dead = true; if (off) off(); };
  }

  function top(el) {
    const load = async () => {
      try {
        const t = await get(`/containers/${c.Id}/top`);
        el.replaceChildren(h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: load }, 'Refresh')),
          table(t.Titles, (t.Processes || []).map((p) => h('tr', {}, p.map((v, i) => td(t.Titles[i], v))))));
      } catch (err) { el.replaceChildren(errorBox(err.message)); }
    };
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }

  function changes(el) {
    const kinds = { 0: 'changed', 1: 'added', 2: 'deleted' };
    get(`/containers/${c.Id}/changes`).then((list) => {
      el.replaceChildren(list && list.length
        ? table(['Kind', 'Path'], list.map((x) => h('tr', {}, td('Kind', kinds[x.Kind] || x.Kind), td('Path', x.Path))))
        : empty('No file changed yet.', 'Files the container adds, changes or deletes are listed here (as `wharfie diff`).'));
    }, (err) => el.replaceChildren(errorBox(err.message)));
  }

  function terminal(el) {
    let off = null, dead = false;
    import('./terminal.js').then((m) => { if (!dead) off = m.mount(el, c); });
    return () => { dead = true; if (off) off(); };
  }

  await reload();
  return () => { offEvents(); for (const f of cleanups.splice(0)) f(); };
}
