// Small DOM helpers, formatting, sparklines and the inline error display of actions.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function bytes(n) {
  if (n === undefined || n === null || n < 0) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : String(n)) + units[i];
}

export function ago(seconds) {
  const d = Date.now() / 1000 - seconds;
  if (d < 60) return `${Math.max(1, Math.round(d))} seconds ago`;
  if (d < 3600) return `${Math.round(d / 60)} minutes ago`;
  if (d < 86400) return `${Math.round(d / 3600)} hours ago`;
  return `${Math.round(d / 86400)} days ago`;
}

export const shortId = (id) => (id || '').replace(/^sha256:/, '').slice(0, 12);

export function empty(title, ...hint) {
  return h('div', { class: 'empty panel', role: 'status' }, h('p', {}, h('strong', {}, title)), h('p', {}, ...hint));
}

export function errorBox(message) { return h('div', { class: 'error', role: 'alert' }, message); }

// A button that runs an async action and shows the daemon's error in `where`.
export function action(label, fn, { where, cls, title } = {}) {
  const b = h('button', { class: cls, type: 'button', title: title || label, 'aria-label': title || label });
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    const slot = typeof where === 'function' ? where() : where;
    if (slot) slot.replaceChildren();
    try { await fn(); } catch (err) {
      if (slot) slot.replaceChildren(errorBox(err.message));
      else alert(err.message);
    } finally { b.disabled = false; }
  });
  return b;
}

export function sparkline(values, max) {
  const w = 70, hgt = 22;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  svg.append(line);
  updateSparkline(svg, values, max);
  return svg;
}

export function updateSparkline(svg, values, max) {
  const w = 70, hgt = 22;
  const top = Math.max(max || 0, ...values, 1e-9);
  const n = Math.max(values.length - 1, 1);
  const pts = values.map((v, i) => `${((i / n) * w).toFixed(1)},${(hgt - 1 - (v / top) * (hgt - 2)).toFixed(1)}`);
  svg.firstChild.setAttribute('points', pts.join(' '));
  svg.dataset.points = String(values.length);
}

export function table(headers, rows, cls = 'cards') {
  return h('table', { class: cls },
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows));
}

// A cell with a label for the phone layout.
export const td = (label, ...content) => h('td', { 'data-label': label }, ...content);

export function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}
