// Sampler chart, learners' charts and numbers, timings table: rendering from the recorded step history.

import { lineChart, compact, percent } from './charts.js';
import { chunkColor, LEARNER_COLOR, UNIFORM_COLOR } from './colors.js';

const pct = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');
const ms = (v) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '–');

/** Everything recorded for one Demo (reset on restart). */
export function emptyHistory() {
  return {
    evals: [], // {step, learner: r1, uniform: r1, flopsLearner, flopsUniform}
    noise: [], // [step, learner noise share, uniform noise share]
    losses: [], // [step, learner, uniform]
    timings: [], // timings_ms of each step
    wall: [], // performance.now() at the end of each step while playing
    last: null, // last step JSON
  };
}

export function recordEval(history, ev) {
  if (!ev || !ev.learner || !ev.uniform) return;
  history.evals.push({
    step: ev.step,
    learner: ev.learner.r1,
    uniform: ev.uniform.r1,
    flopsLearner: ev.flops ? ev.flops.learner : NaN,
    flopsUniform: ev.flops ? ev.flops.uniform : NaN,
  });
}

const noiseOf = (share) => {
  if (!share || !Object.keys(share).length) return NaN;
  return 1 - (share.clean || 0);
};

export function recordStep(history, r, playing) {
  history.last = r;
  if (r.loss) history.losses.push([r.step, r.loss.learner, r.loss.uniform]);
  if (r.noise_share) history.noise.push([r.step, noiseOf(r.noise_share.learner), noiseOf(r.noise_share.uniform)]);
  if (r.timings_ms) history.timings.push(r.timings_ms);
  if (history.timings.length > 200) history.timings.shift();
  if (playing) {
    history.wall.push(performance.now());
    if (history.wall.length > 11) history.wall.shift();
  } else {
    history.wall = [];
  }
  if (r.eval) recordEval(history, r.eval);
}

/** The chunk chart: chunk_learnability against chunk number, first `lit` points lit. */
export function renderChunkChart(svg, r, lit) {
  if (!r || !Array.isArray(r.chunk_learnability)) {
    lineChart(svg, { series: [], empty: 'step to see the chunks' });
    return;
  }
  if (!r.chunk_learnability.length) {
    lineChart(svg, { series: [], empty: 'no learnability without a reference model' });
    return;
  }
  const n = r.chunk_learnability.length;
  const pts = r.chunk_learnability.map((v, k) => [k + 1, v]);
  lineChart(svg, {
    series: [{ name: 'chosen so far', color: '#e6e8ee', points: pts.slice(0, Math.max(1, lit)), dots: true, dotColor: (i) => chunkColor(i, n) }],
    hlines: [{ y: r.superbatch_learnability, name: 'super-batch mean', color: '#8fb3d9' }],
    xLabel: 'chunk',
    yLabel: 'mean learnability A',
    xMin: n > 1 ? 1 : 0.5,
    xMax: n > 1 ? n : 1.5,
    integerX: true,
  });
}

/** R@1 and noise charts, losses text. */
export function renderLearners(els, history, method, xAxis) {
  const flops = xAxis === 'flops';
  const x = (e, who) => (flops ? (who === 'learner' ? e.flopsLearner : e.flopsUniform) : e.step);
  lineChart(els.r1, {
    series: [
      { name: method, color: LEARNER_COLOR, points: history.evals.map((e) => [x(e, 'learner'), e.learner]), dots: true },
      { name: 'uniform', color: UNIFORM_COLOR, points: history.evals.map((e) => [x(e, 'uniform'), e.uniform]), dots: true },
    ],
    xLabel: flops ? 'FLOPs (method includes scoring)' : 'step',
    integerX: !flops,
    yLabel: 'R@1',
    yFormat: percent,
    empty: 'evaluating…',
  });
  lineChart(els.noise, {
    series: [
      { name: method, color: LEARNER_COLOR, points: history.noise.map((p) => [p[0], p[1]]) },
      { name: 'uniform', color: UNIFORM_COLOR, points: history.noise.map((p) => [p[0], p[2]]) },
    ],
    xLabel: 'step',
    yLabel: 'noise share',
    yFormat: percent,
    integerX: true,
    yMin: 0,
    empty: 'step to see the noise share',
  });
  const loss = history.losses[history.losses.length - 1];
  const ev = history.evals[history.evals.length - 1];
  const parts = [];
  if (loss) parts.push(`loss: ${method} ${loss[1].toFixed(3)} · uniform ${loss[2].toFixed(3)}`);
  if (ev) parts.push(`R@1 at step ${ev.step}: ${method} ${pct(ev.learner)} · uniform ${pct(ev.uniform)}`);
  els.losses.textContent = parts.join('   |   ');
}

/** Timings table: last step and mean of the last 20, steps/s, backend and adapter, FLOPs. */
export function renderTimings(el, history, device) {
  const rows = [
    ['score', 'scoring'],
    ['sample', 'sampling'],
    ['train', 'training (method)'],
    ['uniform_train', 'training (uniform)'],
    ['step', 'whole step'],
  ];
  const recent = history.timings.slice(-20);
  const last = recent[recent.length - 1] || {};
  const mean = (k) => (recent.length ? recent.reduce((a, t) => a + (t[k] || 0), 0) / recent.length : NaN);
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  for (const h of ['ms per step', 'last', 'mean (20)']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  for (const [k, label] of rows) {
    const tr = body.insertRow();
    tr.insertCell().textContent = label;
    tr.insertCell().textContent = ms(last[k]);
    tr.insertCell().textContent = ms(mean(k));
  }
  const stepMs = mean('step');
  const w = history.wall;
  const wallRate = w.length > 1 ? ((w.length - 1) * 1000) / (w[w.length - 1] - w[0]) : NaN;
  const p1 = document.createElement('p');
  p1.textContent = `steps/s: ${Number.isFinite(stepMs) && stepMs > 0 ? (1000 / stepMs).toFixed(2) : '–'} computing` +
    (Number.isFinite(wallRate) ? ` · ${wallRate.toFixed(2)} in the page (with drawing and animation)` : '');
  const p2 = document.createElement('p');
  p2.textContent = `backend: ${device.backend || '–'} · ${device.adapter || ''}`;
  const parts = [table, p1, p2];
  const r = history.last;
  if (r && r.flops && r.flops.uniform > 0) {
    const p3 = document.createElement('p');
    p3.textContent = `FLOPs so far: method ${compact(r.flops.learner)} (with scoring) · uniform ${compact(r.flops.uniform)} · ×${(r.flops.learner / r.flops.uniform).toFixed(2)}`;
    parts.push(p3);
  }
  el.replaceChildren(...parts);
}

/** One line under the grid: how noisy the chosen examples are compared with the whole super-batch. */
export function gridStats(meta, r) {
  if (!r) return '';
  const noisy = (i) => meta.noise(i) !== 'clean';
  const inSuper = r.super_batch.filter(noisy).length;
  const inSel = r.selected.filter((p) => noisy(r.super_batch[p])).length;
  return `noisy pairs: ${inSel} of the ${r.selected.length} selected (${pct(inSel / r.selected.length)}) · ` +
    `${inSuper} of the ${r.super_batch.length} offered (${pct(inSuper / r.super_batch.length)})`;
}
