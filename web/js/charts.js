// Small inline-SVG line charts (axes, ticks, legend, dashed baselines), no library.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `count` round tick values covering [lo, hi]. */
function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A share as a percentage tick label: 0.25 -> "25%", 0.005 -> "0.5%". */
export function percent(v) {
  const p = v * 100;
  return `${Number(p.toPrecision(Math.abs(p) < 1 ? 2 : 3))}%`;
}

/** Compact number: 1.2k, 3.4M, 5.6G for large values, 3 significant digits otherwise. */
export function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e12) return (v / 1e12).toPrecision(3).replace(/\.?0+$/, '') + 'T';
  if (a >= 1e9) return (v / 1e9).toPrecision(3).replace(/\.?0+$/, '') + 'G';
  if (a >= 1e6) return (v / 1e6).toPrecision(3).replace(/\.?0+$/, '') + 'M';
  if (a >= 1e4) return (v / 1e3).toPrecision(3).replace(/\.?0+$/, '') + 'k';
  if (a === 0) return '0';
  if (a < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

/**
 * Draw a line chart into an <svg>.
 * opts: {series: [{name, color, points: [[x, y]...], dashed?, dots?, lit?}], xLabel, yLabel,
 *        yMin?, yMax?, xMin?, xMax?, hlines: [{y, name, color}], integerX?, yFormat?: (v) => string, empty?: string}
 */
export function lineChart(svg, opts) {
  const W = 360;
  const H = 190;
  const m = { l: 50, r: 10, t: 22, b: 32 };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const nodes = [];
  const all = opts.series.flatMap((s) => s.points);
  const ys = all.map((p) => p[1]).concat((opts.hlines || []).map((h) => h.y)).filter(Number.isFinite);
  const xs = all.map((p) => p[0]).filter(Number.isFinite);
  if (!xs.length || !ys.length) {
    nodes.push(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, opts.empty || 'no data yet'));
    svg.replaceChildren(...nodes);
    return;
  }
  let x0 = opts.xMin ?? Math.min(...xs);
  let x1 = opts.xMax ?? Math.max(...xs);
  if (!(x1 > x0)) x1 = x0 + 1;
  let y0 = opts.yMin ?? Math.min(...ys);
  let y1 = opts.yMax ?? Math.max(...ys);
  if (!(y1 > y0)) {
    const pad = Math.abs(y0) * 0.1 || 0.1;
    y0 -= pad;
    y1 += pad;
  } else if (opts.yMin === undefined || opts.yMax === undefined) {
    const pad = (y1 - y0) * 0.08;
    if (opts.yMin === undefined) y0 -= pad;
    if (opts.yMax === undefined) y1 += pad;
  }
  const px = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);

  // axes and grid
  for (const t of ticks(y0, y1, 4)) {
    nodes.push(el('line', { x1: m.l, x2: W - m.r, y1: py(t), y2: py(t), class: 'grid-line' }));
    nodes.push(el('text', { x: m.l - 4, y: py(t) + 3, 'text-anchor': 'end', class: 'tick' }, (opts.yFormat || compact)(t)));
  }
  let xt = ticks(x0, x1, 5);
  if (opts.integerX) xt = xt.filter((t) => Number.isInteger(t));
  for (const t of xt) {
    nodes.push(el('line', { x1: px(t), x2: px(t), y1: H - m.b, y2: H - m.b + 3, class: 'axis' }));
    nodes.push(el('text', { x: px(t), y: H - m.b + 13, 'text-anchor': 'middle', class: 'tick' }, compact(t)));
  }
  nodes.push(el('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }));
  nodes.push(el('line', { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: 'axis' }));
  nodes.push(el('text', { x: (m.l + W - m.r) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, opts.xLabel || ''));
  const yMid = (m.t + H - m.b) / 2;
  nodes.push(el('text', { x: 10, y: yMid, 'text-anchor': 'middle', transform: `rotate(-90 10 ${yMid})`, class: 'axis-label' }, opts.yLabel || ''));

  for (const h of opts.hlines || []) {
    if (!Number.isFinite(h.y)) continue;
    nodes.push(el('line', { x1: m.l, x2: W - m.r, y1: py(h.y), y2: py(h.y), stroke: h.color, 'stroke-dasharray': '5 4', class: 'hline' }));
  }
  for (const s of opts.series) {
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join('');
    nodes.push(el('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dashed ? '5 4' : 'none' }));
    if (s.dots || pts.length === 1) {
      pts.forEach((p, i) => {
        const lit = s.lit === undefined || i < s.lit;
        nodes.push(el('circle', { cx: px(p[0]), cy: py(p[1]), r: lit ? 4 : 2.5, fill: lit ? (s.dotColor ? s.dotColor(i) : s.color) : '#444', stroke: '#111', class: 'dot' }));
      });
    }
  }
  // legend along the top
  let lx = m.l + 4;
  const entries = opts.series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed }))
    .concat((opts.hlines || []).map((h) => ({ name: h.name, color: h.color, dashed: true })));
  for (const e of entries) {
    if (!e.name) continue;
    nodes.push(el('line', { x1: lx, x2: lx + 14, y1: 8, y2: 8, stroke: e.color, 'stroke-width': 2, 'stroke-dasharray': e.dashed ? '4 3' : 'none' }));
    const label = el('text', { x: lx + 18, y: 11, class: 'legend-text' }, e.name);
    nodes.push(label);
    lx += 26 + e.name.length * 5.6;
  }
  svg.replaceChildren(...nodes);
}
