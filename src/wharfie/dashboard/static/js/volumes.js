// Volumes: list, inspect, create, remove, and the containers using each.

import { get, post, del } from './api.js';
import { h, action, empty, errorBox, table, td } from './ui.js';

export async function usersOf(kind) {
  const cs = await get('/containers/json', { all: 1 });
  const map = new Map();
  for (const c of cs) {
    const cname = (c.Names[0] || '').replace(/^\//, '');
    const keys = kind === 'volume'
      ? (c.Mounts || []).filter((m) => m.Type === 'volume').map((m) => m.Name)
      : Object.keys((c.NetworkSettings || {}).Networks || {});
    for (const k of keys) map.set(k, [...(map.get(k) || []), cname]);
  }
  return map;
}

export async function render(view, ctx) {
  const name = h('input', { placeholder: 'name (optional)', 'aria-label': 'Volume name' });
  const formMsg = h('div');
  const body = h('div');
  view.append(h('h1', {}, 'Volumes'),
    h('form', { class: 'toolbar', onsubmit: (e) => e.preventDefault() }, name,
      action('Create', async () => { await post('/volumes/create', undefined, { Name: name.value.trim() }); name.value = ''; await load(); },
        { where: () => formMsg, cls: 'primary', title: 'Create volume' })), formMsg, body);

  async function load() {
    try {
      const [vols, users] = await Promise.all([get('/volumes'), usersOf('volume')]);
      const list = vols.Volumes || [];
      if (!list.length) { body.replaceChildren(empty('No volumes.', 'Create one above, or run a container with ', h('code', {}, '-v data:/data'), '.')); return; }
      const rows = [];
      for (const v of list) {
        const msg = h('td', { colspan: 5 });
        const detail = h('td', { colspan: 5 });
        rows.push(h('tr', { 'data-volume': v.Name }, td('Name', v.Name), td('Driver', v.Driver), td('Mountpoint', v.Mountpoint),
          td('Used by', (users.get(v.Name) || []).join(', ') || '—'),
          h('td', { class: 'actions' },
            action('Inspect', async () => {
              if (detail.childNodes.length) { detail.replaceChildren(); return; }
              detail.replaceChildren(h('pre', {}, JSON.stringify(await get(`/volumes/${encodeURIComponent(v.Name)}`), null, 2)));
            }, { where: () => msg, title: `Inspect ${v.Name}` }),
            action('Remove', async () => { await del(`/volumes/${encodeURIComponent(v.Name)}`); await load(); },
              { where: () => msg, cls: 'danger', title: `Remove ${v.Name}` }))));
        rows.push(h('tr', { class: 'rowmsg' }, msg), h('tr', { class: 'rowmsg' }, detail));
      }
      body.replaceChildren(table(['Name', 'Driver', 'Mountpoint', 'Used by', 'Actions'], rows));
    } catch (err) { body.replaceChildren(errorBox(err.message)); }
  }
  const off = ctx.onEvent((ev) => { if (ev.Type === 'volume' || (ev.Type === 'container' && ['create', 'destroy'].includes(ev.Action))) load(); });
  await load();
  return off;
}
