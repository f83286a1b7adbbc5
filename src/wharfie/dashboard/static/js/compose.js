// Compose projects: containers grouped by their com.docker.compose.project label, with
// start, stop, restart and down for a whole project (through the Engine API).

import { get, post, del, request } from './api.js';
import { h, action, empty, errorBox, table, td } from './ui.js';
import { stateOf, name } from './containers.js';

const P = 'com.docker.compose.project';

export async function render(view, ctx) {
  const body = h('div');
  const msgs = new Map();
  view.append(h('h1', {}, 'Compose projects'), body);

  async function load() {
    try {
      const cs = await get('/containers/json', { all: 1, filters: { label: [P] } });
      const projects = new Map();
      for (const c of cs) {
        const p = c.Labels[P];
        projects.set(p, [...(projects.get(p) || []), c]);
      }
      if (!projects.size) {
        body.replaceChildren(empty('No compose projects.', 'Start one from its folder with ', h('code', {}, 'wharfie compose up -d'), '; its services are grouped here.'));
        return;
      }
      const panels = [];
      const service = (c) => c.Labels['com.docker.compose.service'] || '';
      for (const [proj, members] of [...projects].sort((a, b) => a[0].localeCompare(b[0]))) {
        members.sort((a, b) => service(a).localeCompare(service(b)));
        // one message box per project, kept across the live re-renders
        const msg = msgs.get(proj) || h('div', { class: 'compose-msg', role: 'status' });
        msgs.set(proj, msg);
        const each = async (fn) => { for (const c of members) await fn(c); await load(); };
        const files = members[0].Labels['com.docker.compose.project.config_files'];
        const running = members.filter((c) => stateOf(c) === 'running').length;
        panels.push(h('section', { class: 'panel', 'data-project': proj, 'aria-label': `Project ${proj}` },
          h('h2', {}, proj, ' ', h('span', { class: 'muted' }, `${running}/${members.length} running`)),
          files ? h('p', { class: 'muted' }, 'Compose file: ', h('code', {}, files)) : null,
          h('div', { class: 'toolbar' },
            files ? action('Up', async () => {
              const r = await request('POST', `/dash/compose/${encodeURIComponent(proj)}/up`, { base: '' });
              await load();
              msg.replaceChildren(h('pre', { class: 'ok-msg' }, r.Output || 'Up to date.'));
            }, { where: () => msg, cls: 'primary', title: `Up ${proj}` }) : null,
            action('Start', () => each((c) => stateOf(c) === 'running' ? null : post(`/containers/${c.Id}/start`)), { where: () => msg, title: `Start ${proj}` }),
            action('Stop', () => each((c) => post(`/containers/${c.Id}/stop`)), { where: () => msg, title: `Stop ${proj}` }),
            action('Restart', () => each((c) => post(`/containers/${c.Id}/restart`)), { where: () => msg, title: `Restart ${proj}` }),
            action('Down', async () => {
              if (!confirm(`Stop and remove the containers and networks of ${proj}?`)) return;
              for (const c of members) await del(`/containers/${c.Id}`, { force: 1 });
              const nets = await get('/networks', { filters: { label: [`${P}=${proj}`] } });
              for (const n of nets) await del(`/networks/${n.Id}`);
              await load();
            }, { where: () => msg, cls: 'danger', title: `Down ${proj}` })),
          msg,
          table(['Service', 'Container', 'State', 'Image'], members.map((c) => h('tr', {},
            td('Service', c.Labels['com.docker.compose.service'] || '—'),
            td('Container', h('a', { href: `#/containers/${c.Id}` }, name(c))),
            td('State', h('span', { class: `badge ${stateOf(c)}` }, stateOf(c))), td('Image', c.Image))))));
      }
      body.replaceChildren(...panels);
    } catch (err) { body.replaceChildren(errorBox(err.message)); }
  }
  let timer = 0;
  const off = ctx.onEvent((ev) => { if (ev.Type === 'container') { clearTimeout(timer); timer = setTimeout(load, 150); } });
  await load();
  return () => { off(); clearTimeout(timer); };
}
