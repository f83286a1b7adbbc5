// Networks: list, inspect, create, remove, and the containers attached.

import { get, post, del } from './api.js';
import { h, action, empty, errorBox, table, td, shortId } from './ui.js';
import { usersOf } from './volumes.js';

const BUILTIN = new Set(['bridge', 'host', 'none']);

export async function render(view, ctx) {
  const name = h('input', { placeholder: 'new network name', 'aria-label': 'Network name' });
  const driver = h('select', { 'aria-label': 'Driver' }, h('option', {}, 'bridge'), h('option', {}, 'macvlan'));
  const formMsg = h('div');
  const body = h('div');
  view.append(h('h1', {}, 'Networks'),
    h('form', { class: 'toolbar', onsubmit: (e) => e.preventDefault() }, name, driver,
      action('Create', async () => {
        await post('/networks/create', undefined, { Name: name.value.trim(), Driver: driver.value, CheckDuplicate: true });
        name.value = ''; await load();
      }, { where: () => formMsg, cls: 'primary', title: 'Create network' })), formMsg, body);

  async function load() {
    try {
      const [nets, users] = await Promise.all([get('/networks'), usersOf('network')]);
      if (!nets.length) { body.replaceChildren(empty('No networks.', 'Create one above.')); return; }
      const rows = [];
      for (const n of nets) {
        const msg = h('td', { colspan: 6 });
        const detail = h('td', { colspan: 6 });
        const subnet = (((n.IPAM || {}).Config || [])[0] || {}).Subnet || '—';
        rows.push(h('tr', { 'data-network': n.Name }, td('Name', n.Name), td('Id', shortId(n.Id)), td('Driver', n.Driver), td('Subnet', subnet),
          td('Used by', (users.get(n.Name) || []).join(', ') || '—'),
          h('td', { class: 'actions' },
            action('Inspect', async () => {
              if (detail.childNodes.length) { detail.replaceChildren(); return; }
              detail.replaceChildren(h('pre', {}, JSON.stringify(await get(`/networks/${encodeURIComponent(n.Id)}`), null, 2)));
            }, { where: () => msg, title: `Inspect ${n.Name}` }),
            BUILTIN.has(n.Name) ? null : action('Remove', async () => { await del(`/networks/${encodeURIComponent(n.Id)}`); await load(); },
              { where: () => msg, cls: 'danger', title: `Remove ${n.Name}` }))));
        rows.push(h('tr', { class: 'rowmsg' }, msg), h('tr', { class: 'rowmsg' }, detail));
      }
      body.replaceChildren(table(['Name', 'Id', 'Driver', 'Subnet', 'Used by', 'Actions'], rows));
    } catch (err) { body.replaceChildren(errorBox(err.message)); }
  }
  const off = ctx.onEvent((ev) => { if (ev.Type === 'network') load(); });
  await load();
  return off;
}
