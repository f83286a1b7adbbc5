// Images: list, history (layers), pull with a progress bar, remove, prune.

import { get, post, del, request, jsonLines } from './api.js';
import { h, action, empty, errorBox, table, td, bytes, ago, shortId } from './ui.js';

export function pullProgress() {
  // Docker's pull stream: per-layer "Downloading" lines with progressDetail {current,total}.
  const layers = new Map();
  return {
    feed(m) {
      if (!m.id || !m.progressDetail) return;
      const l = layers.get(m.id) || { current: 0, total: 0, done: false };
      if (m.progressDetail.total) { l.total = m.progressDetail.total; l.current = m.progressDetail.current || 0; }
      if (/complete|already exists/i.test(m.status || '')) l.done = true;
      layers.set(m.id, l);
    },
    fraction() {
      let cur = 0, tot = 0;
      for (const l of layers.values()) { tot += l.total || 1; cur += l.done ? (l.total || 1) : Math.min(l.current, l.total || 1); }
      return tot ? cur / tot : 0;
    },
  };
}

export async function render(view, ctx) {
  const ref = h('input', { id: 'pull-ref', placeholder: 'image reference, e.g. registry:5000/app:1.0', 'aria-label': 'Image to pull', size: 40 });
  const bar = h('progress', { id: 'pull-bar', max: 1, value: 0, hidden: true, 'aria-label': 'Pull progress' });
  const pullMsg = h('div', { id: 'pull-msg', role: 'status', 'aria-live': 'polite' });
  const status = h('div', { role: 'status' });
  const body = h('div');
  const pullBtn = h('button', { type: 'submit', class: 'primary', id: 'pull-btn' }, 'Pull');
  const form = h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); pull(); } }, ref, pullBtn);
  view.append(h('h1', {}, 'Images'), h('div', { class: 'panel' }, h('h2', {}, 'Pull an image'), form, bar, pullMsg),
    h('div', { class: 'toolbar' }, h('span', { class: 'grow' }),
      action('Remove unused images', async () => {
        const r = await post('/images/prune', { filters: { dangling: ['true'] } });
        status.replaceChildren(h('div', { class: 'ok-msg' }, `Removed ${(r.ImagesDeleted || []).length} images, reclaimed ${bytes(r.SpaceReclaimed)}`));
        await load();
      }, { where: () => status })), status, body);

  async function pull() {
    const text = ref.value.trim();
    if (!text) { pullMsg.replaceChildren(errorBox('Type an image reference to pull.')); return; }
    let [name, tag] = [text, 'latest'];
    const at = text.lastIndexOf(':');
    if (at > text.lastIndexOf('/') && !text.includes('@')) { name = text.slice(0, at); tag = text.slice(at + 1); }
    pullBtn.disabled = true;
    bar.hidden = false; bar.value = 0; bar.removeAttribute('data-done');
    pullMsg.replaceChildren(h('span', {}, `Pulling ${text}…`));
    const prog = pullProgress();
    let failed = null, last = '';
    try {
      const resp = await request('POST', '/images/create', { raw: true, query: { fromImage: name, tag } });
      await jsonLines(resp, (m) => {
        if (m.error || m.errorDetail) { failed = m.error || m.errorDetail.message; return; }
        prog.feed(m);
        bar.value = prog.fraction();
        last = m.status || last;
      });
    } catch (err) { failed = err.message; }
    pullBtn.disabled = false;
    if (failed) {
      bar.hidden = true;
      pullMsg.replaceChildren(errorBox(`Pull of ${text} failed: ${failed}`));
      return;
    }
    bar.value = 1; bar.dataset.done = 'true';
    pullMsg.replaceChildren(h('div', { class: 'ok-msg' }, last || `Pulled ${text}`));
    load();
  }

  async function load() {
    try {
      const imgs = await get('/images/json');
      if (!imgs.length) {
        body.replaceChildren(empty('No images yet.', 'Pull one above, or make busybox offline: ', h('code', {}, 'wharfie image bootstrap busybox'), '.'));
        return;
      }
      const rows = [];
      for (const im of imgs) {
        const msg = h('td', { colspan: 5 });
        const tags = (im.RepoTags && im.RepoTags.length ? im.RepoTags : ['<none>:<none>']);
        const detail = h('div');
        rows.push(h('tr', { 'data-image': tags[0] },
          td('Tags', tags.join(', ')), td('Id', shortId(im.Id)), td('Size', bytes(im.Size)), td('Created', ago(im.Created)),
          h('td', { class: 'actions' },
            action('Layers', async () => {
              if (detail.childNodes.length) { detail.replaceChildren(); return; }
              const hist = await get(`/images/${encodeURIComponent(im.Id)}/history`);
              detail.replaceChildren(table(['Layer', 'Created by', 'Size'], hist.map((l) =>
                h('tr', {}, td('Layer', shortId(l.Id) || '<missing>'), td('Created by', (l.CreatedBy || '').slice(0, 120)), td('Size', bytes(l.Size))))));
            }, { where: () => msg, title: `Layers of ${tags[0]}` }),
            action('Remove', async () => {
              if (!confirm(`Remove image ${tags[0]}?`)) return;
              await del(`/images/${encodeURIComponent(tags[0] === '<none>:<none>' ? im.Id : tags[0])}`);
              await load();
            }, { where: () => msg, cls: 'danger', title: `Remove ${tags[0]}` }))));
        rows.push(h('tr', { class: 'rowmsg' }, msg));
        rows.push(h('tr', { class: 'rowmsg' }, h('td', { colspan: 5 }, detail)));
      }
      body.replaceChildren(table(['Tags', 'Id', 'Size', 'Created', 'Actions'], rows));
    } catch (err) { body.replaceChildren(errorBox(err.message)); }
  }
  const off = ctx.onEvent((ev) => { if (ev.Type === 'image') load(); });
  await load();
  return off;
}
