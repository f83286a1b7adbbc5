// System: disk usage (system df) as a chart, daemon facts, and the live events stream.

import { get } from './api.js';
import { h, errorBox, bytes, dl } from './ui.js';

export async function render(view, ctx) {
  const df = h('div', { class: 'panel bars', id: 'df' }, 'Loading…');
  const info = h('div', { class: 'panel' });
  const events = h('div', { class: 'events panel', id: 'events', role: 'log', 'aria-live': 'polite', tabindex: '0' },
    h('p', { class: 'muted' }, 'Waiting for events… (start or stop a container to see one)'));
  view.append(h('h1', {}, 'System'), h('h2', {}, 'Disk usage'), df, h('h2', {}, 'Daemon'), info, h('h2', {}, 'Events'), events);

  async function load() {
    try {
      const d = await get('/system/df');
      const rows = [
        ['Images', (d.Images || []).reduce((a, i) => a + (i.Size || 0), 0), `${(d.Images || []).length} images`],
        ['Containers', (d.Containers || []).reduce((a, c) => a + (c.SizeRw || 0), 0), `${(d.Containers || []).length} containers`],
        ['Volumes', (d.Volumes || []).reduce((a, v) => a + Math.max(0, (v.UsageData || {}).Size || 0), 0), `${(d.Volumes || []).length} volumes`],
        ['Build cache', (d.BuildCache || []).reduce((a, b) => a + (b.Size || 0), 0), `${(d.BuildCache || []).length} entries`],
      ];
      const max = Math.max(...rows.map((r) => r[1]), 1);
      df.replaceChildren(...rows.map(([label, size, count]) => h('div', { class: 'bar', role: 'img', 'aria-label': `${label}: ${bytes(size)}, ${count}` },
        h('span', {}, label, h('br'), h('small', { class: 'muted' }, count)),
        h('div', { class: 'track' }, h('div', { class: 'fill', style: `width:${((size / max) * 100).toFixed(1)}%` })),
        h('span', {}, bytes(size)))));
      const i = await get('/info');
      info.replaceChildren(dl([['Name', i.Name], ['Server version', i.ServerVersion], ['Containers', `${i.Containers} (${i.ContainersRunning} running)`],
        ['Images', String(i.Images)], ['Storage driver', i.Driver], ['Cgroup', `${i.CgroupDriver} v${i.CgroupVersion}`],
        ['Kernel', i.KernelVersion], ['CPUs', String(i.NCPU)], ['Memory', bytes(i.MemTotal)]]));
    } catch (err) { df.replaceChildren(errorBox(err.message)); }
  }
  let first = true;
  const off = ctx.onEvent((ev) => {
    if (first) { events.replaceChildren(); first = false; }
    const t = new Date((ev.timeNano ? ev.timeNano / 1e6 : ev.time * 1000)).toLocaleTimeString();
    const attrs = (ev.Actor && ev.Actor.Attributes) || {};
    events.prepend(h('div', {}, `${t}  ${ev.Type} ${ev.Action}  ${attrs.name || (ev.Actor && ev.Actor.ID || '').slice(0, 12)}`));
    while (events.childNodes.length > 300) events.lastChild.remove();
  });
  await load();
  const timer = setInterval(load, 15000);
  return () => { off(); clearInterval(timer); };
}
