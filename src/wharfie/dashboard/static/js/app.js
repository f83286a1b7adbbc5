// The page: hash routes, one events stream and one stats stream shared by every view,
// the connection banner. Views are modules exporting render(main, ctx, ...params),
// which may return a cleanup function.

import { onConnection, isOnline, jsonLines, lost } from './api.js';
import { h } from './ui.js';

const routes = [
  [/^#\/containers\/([^/]+)$/, () => import('./container.js')],
  [/^#\/containers$/, () => import('./containers.js')],
  [/^#\/images$/, () => import('./images.js')],
  [/^#\/volumes$/, () => import('./volumes.js')],
  [/^#\/networks$/, () => import('./networks.js')],
  [/^#\/compose$/, () => import('./compose.js')],
  [/^#\/cluster$/, () => import('./cluster.js')],
  [/^#\/system$/, () => import('./system.js')],
];

// ---- shared live data
const eventFns = new Set();
const statsFns = new Set();
export const statsHistory = new Map();  // container id -> [{t, cpu, mem, limit, rx, tx, br, bw}]
const HISTORY = 90;

function subscribe(set, fn) { set.add(fn); return () => set.delete(fn); }

// One stream for both (a browser allows six connections per host: see live.py).
async function liveLoop() {
  for (;;) {
    if (!isOnline()) { await new Promise((r) => setTimeout(r, 500)); continue; }
    try {
      const resp = await fetch(`/dash/live?since=${Math.floor(Date.now() / 1000)}`, { cache: 'no-store' });
      if (!resp.ok) throw new Error(String(resp.status));
      await jsonLines(resp, (msg) => {
        if (msg.t === 'hello') document.body.dataset.events = 'open';
        else if (msg.t === 'event') { for (const fn of eventFns) fn(msg.d); }
        else if (msg.t === 'stats') onStatsLine(msg.d);
      });
    } catch (_) { /* lost below */ }
    document.body.dataset.events = 'closed';
    lost();
  }
}

function onStatsLine(line) {
  for (const [id, v] of Object.entries(line.stats)) {
    const list = statsHistory.get(id) || [];
    list.push({ t: line.time, cpu: v[0], mem: v[1], limit: v[2], rx: v[3], tx: v[4], br: v[5], bw: v[6] });
    if (list.length > HISTORY) list.shift();
    statsHistory.set(id, list);
  }
  for (const id of statsHistory.keys()) if (!(id in line.stats)) statsHistory.delete(id);
  for (const fn of statsFns) fn(line);
}

// ---- connection banner
const banner = document.getElementById('conn');
onConnection((up) => {
  if (!up) {
    banner.className = 'banner';
    banner.textContent = 'Lost the connection to wharfied. Reconnecting by itself…';
    banner.hidden = false;
    document.body.dataset.online = 'false';
  } else {
    banner.className = 'banner ok';
    banner.textContent = 'Reconnected to wharfied.';
    document.body.dataset.online = 'true';
    setTimeout(() => { if (isOnline()) banner.hidden = true; }, 2500);
    show();  // fresh data for the current view
  }
});

// ---- routing
let cleanup = null;
let generation = 0;
const main = document.getElementById('main');

async function show() {
  const hash = location.hash || '#/containers';
  const gen = ++generation;
  if (cleanup) { try { cleanup(); } catch (_) { /* view gone */ } cleanup = null; }
  const section = hash.split('/')[1] || 'containers';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const [rx, load] of routes) {
    const m = hash.match(rx);
    if (!m) continue;
    const mod = await load();
    if (gen !== generation) return;
    const view = h('div', { class: 'view' });
    main.replaceChildren(view);
    const ctx = {
      onEvent: (fn) => subscribe(eventFns, fn),
      onStats: (fn) => subscribe(statsFns, fn),
      history: statsHistory,
      current: () => gen === generation,
    };
    cleanup = (await mod.render(view, ctx, ...m.slice(1).map(decodeURIComponent))) || null;
    return;
  }
  main.replaceChildren(h('div', { class: 'empty panel' }, 'No such page. ', h('a', { href: '#/containers' }, 'Go to the containers')));
}

window.addEventListener('hashchange', show);
if (!location.hash) window.history.replaceState(null, '', '#/containers');
document.body.dataset.online = 'true';
show();
liveLoop();
