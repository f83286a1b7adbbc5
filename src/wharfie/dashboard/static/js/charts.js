// Live CPU, memory, network and disk I/O charts of one container (uPlot), fed by the
// dashboard's single stats stream.

import uPlot from '../vendor/uPlot.esm.js';
import { h, bytes, empty } from './ui.js';

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function series(samples) {
  const t = [], cpu = [], mem = [], rx = [], tx = [], br = [], bw = [];
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i], p = samples[i - 1];
    const dt = p ? Math.max(s.t - p.t, 1e-3) : 1;
    t.push(s.t); cpu.push(s.cpu); mem.push(s.mem);
    rx.push(p ? Math.max(0, (s.rx - p.rx) / dt) : 0); tx.push(p ? Math.max(0, (s.tx - p.tx) / dt) : 0);
    br.push(p ? Math.max(0, (s.br - p.br) / dt) : 0); bw.push(p ? Math.max(0, (s.bw - p.bw) / dt) : 0);
  }
  return { t, cpu, mem, rx, tx, br, bw };
}

export function mount(el, ctx, id) {
  const specs = [
    ['CPU', (d) => [d.t, d.cpu], [['CPU %', (v) => `${v == null ? '—' : v.toFixed(1)}%`]]],
    ['Memory', (d) => [d.t, d.mem], [['Memory', (v) => bytes(v)]]],
    ['Network', (d) => [d.t, d.rx, d.tx], [['Received/s', (v) => bytes(v)], ['Sent/s', (v) => bytes(v)]]],
    ['Disk I/O', (d) => [d.t, d.br, d.bw], [['Read/s', (v) => bytes(v)], ['Written/s', (v) => bytes(v)]]],
  ];
  const grid = h('div', { class: 'charts' });
  const note = h('p', { class: 'muted' }, 'Live, one point every 2 seconds while the container runs.');
  el.append(note, grid);
  const plots = [];
  const width = (box) => Math.max(220, (box.clientWidth || 320) - 26);
  for (const [title, pick, ser] of specs) {
    const box = h('div', { class: 'chart panel', 'data-chart': title, 'data-points': '0', role: 'img', 'aria-label': `${title} chart` },
      h('h3', {}, title));
    grid.append(box);
    const colors = [css('--chart1'), css('--chart2')];
    const opts = {
      width: 300, height: 160,
      series: [{}, ...ser.map(([label, fmt], i) => ({ label, value: (_u, v) => fmt(v), stroke: colors[i], width: 1.5 }))],
      axes: [
        { stroke: css('--muted'), grid: { stroke: css('--border') } },
        { stroke: css('--muted'), grid: { stroke: css('--border') }, size: 64, values: (_u, vals) => vals.map((v) => (title === 'CPU' ? `${v}%` : bytes(v))) },
      ],
      scales: { x: { time: true } },
      legend: { live: true },
    };
    const plot = new uPlot(opts, pick(series(ctx.history.get(id) || [])), box);
    plots.push({ plot, pick, box });
    plot.setSize({ width: width(box), height: 160 });
  }
  const update = () => {
    const samples = ctx.history.get(id) || [];
    const d = series(samples);
    for (const p of plots) { p.plot.setData(p.pick(d)); p.box.dataset.points = String(samples.length); }
    if (!samples.length) note.textContent = 'No samples yet: charts fill in while the container runs.';
    else note.textContent = 'Live, one point every 2 seconds while the container runs.';
  };
  update();
  const off = ctx.onStats(update);
  const onResize = () => { for (const p of plots) p.plot.setSize({ width: width(p.box), height: 160 }); };
  window.addEventListener('resize', onResize);
  requestAnimationFrame(onResize);
  return () => { off(); window.removeEventListener('resize', onResize); for (const p of plots) p.plot.destroy(); };
}
