// jest-wgpu browser demo: loads the wasm package and assets, runs Demo steps, drives the panels, the URL state and window.__jest.

import { $, J, S, message, setStatus, showError, recordError, isDead, gpuLostMessage } from './js/state.js';
import { extrasFromQuery, settingsToForm, plainSettings } from './js/settings.js';
import { loadAssets, settingsFromUrl } from './js/loader.js';
import { wireControls, updateShareLink } from './js/controls.js';
import { Grid, renderNoiseLegend } from './js/grid.js';
import { MatrixView } from './js/matrix.js';
import { emptyHistory, recordEval, recordStep, renderChunkChart, renderLearners, renderTimings, gridStats } from './js/panels.js';
import { Tour } from './js/tour.js';

const form = $('controls');
const matrix = new MatrixView({ canvas: $('matrix'), legend: $('matrix-legend'), note: $('matrix-note'), readout: $('matrix-readout') });
const tour = new Tour($('tour'));
let grid = null;

function updateButtons() {
  const usable = S.demo && !S.busy && !S.dead;
  $('play').disabled = !usable || S.playing;
  $('pause').disabled = !S.playing;
  $('step').disabled = !usable || S.playing || S.stepping;
  $('restart').disabled = S.busy || !S.data;
  $('train-ref').disabled = S.busy || !S.data;
  $('ref-shipped').hidden = S.reference === S.shippedReference;
  $('ref-shipped').disabled = S.busy;
  $('step-count').textContent = `step ${J.steps}`;
  J.playing = S.playing;
}

// ---- the Demo ----------------------------------------------------------------------------------

/** Wait until no step is running (its result is discarded if the demo changed meanwhile). */
async function settle() {
  S.playing = false;
  if (S.anim) S.anim.skip();
  while (S.inflight) await S.inflight.catch(() => {});
}

async function createDemo(settings) {
  S.busy = true;
  J.ready = false;
  updateButtons();
  await settle();
  if (S.demo) {
    try {
      S.demo.free();
    } catch {
      // a demo whose wasm side already died cannot be freed; drop it
    }
    S.demo = null;
  }
  S.history = emptyHistory();
  S.mats = null;
  J.steps = 0;
  J.firstStep = null;
  J.r1 = { learner: [], uniform: [] };
  J.noise = { learner: [], uniform: [] };
  J.chunkLearnability = null;
  matrix.clear('Press Step or Play: the matrix of the first super-batch appears here.');
  if (grid) grid.clear('Press Step or Play to draw the first super-batch.');
  $('grid-stats').textContent = '';
  renderChunkChart($('chunk-chart'), null, 0);
  setStatus('Preparing the demo: the reference embeds the pool, both learners are evaluated at step 0…', true);
  try {
    const { Demo } = S.wasm;
    S.demo = await Demo.create(S.data, S.reference, JSON.stringify(plainSettings(settings)), S.extras.cpu);
    S.dead = false;
    S.backend = S.demo.backend();
    S.adapter = S.demo.adapter();
    S.settings = JSON.parse(S.demo.settings());
    J.backend = S.backend;
    J.adapter = S.adapter;
    J.fallback = S.backend === 'cpu';
    J.settings = S.settings;
    $('backend').textContent = S.backend;
    $('adapter').textContent = S.adapter;
    if (S.backend === 'cpu') {
      const reason = S.demo.fallback_reason();
      $('fallback-reason').textContent = reason || (S.extras.cpu ? 'the CPU path was asked for with cpu=1' : 'no WebGPU adapter');
      $('fallback-banner').hidden = false;
    } else {
      $('fallback-banner').hidden = true;
    }
    settingsToForm(form, S.settings);
    $('pending').hidden = true;
    $('method-name').textContent = S.settings.method;
    updateShareLink();
    const initial = JSON.parse(S.demo.initial_eval());
    recordEval(S.history, initial);
    pushR1(initial);
    renderPanels();
    $('grid-counts').textContent = `B = ${S.settings.super_batch} offered, b = ${S.settings.batch} kept, ${S.settings.chunks} chunks of m = ${S.settings.chunk_size}`;
    setStatus(`Ready: ${S.settings.method}, f = ${S.settings.filter_ratio}, ${S.backend} (${S.adapter}). Press Play or Step.`);
    $('error').hidden = true; // an earlier failure no longer applies
    J.ready = true;
    return true;
  } catch (e) {
    const text = message(e);
    recordError(text);
    S.demo = null;
    setStatus('The demo could not start.');
    const hint = S.extras.cpu ? '' : ' (The CPU path can be forced by adding cpu=1 to the address.)';
    showError(`Could not create the demo: ${text}${hint}`, { restart: true, reload: true });
    return false;
  } finally {
    S.busy = false;
    updateButtons();
  }
}

function pushR1(ev) {
  if (!ev || !ev.learner || !ev.uniform) return;
  J.r1.learner.push([ev.step, ev.learner.r1]);
  J.r1.uniform.push([ev.step, ev.uniform.r1]);
}

/** One step of both learners; the matrices are copied out before anything else can touch the demo. */
async function runStep(demo) {
  const r = JSON.parse(await demo.step());
  const mats = {};
  for (const kind of ['learnability', 'learner', 'reference']) mats[kind] = demo.matrix(kind);
  return { r, mats };
}

/** A step, its drawing and its animation; S.inflight is the whole of it, so restarts can wait for it. */
function doStep(fast) {
  if (!S.demo || S.stepping || S.dead) return Promise.resolve(false);
  S.stepping = true;
  J.busy = true;
  updateButtons();
  const p = stepAndShow(S.demo, fast).finally(() => {
    S.stepping = false;
    S.inflight = null;
    J.busy = false;
    updateButtons();
  });
  S.inflight = p;
  return p;
}

async function stepAndShow(demo, fast) {
  let out;
  try {
    out = await runStep(demo);
  } catch (e) {
    const text = message(e);
    recordError(text);
    S.playing = false;
    S.dead = isDead(e, text);
    const lost = gpuLostMessage(text);
    const why = lost || `A training step failed: ${text}` + (S.dead ? ' — the demo cannot continue; restart it.' : '');
    showError(why, { restart: true, reload: S.dead });
    setStatus(lost ? `Stopped at step ${J.steps}: the GPU device was lost.` : 'Stopped by an error.');
    return false;
  }
  if (demo !== S.demo) return false; // restarted meanwhile
  const { r, mats } = out;
  S.mats = mats;
  if (r.step === 1) J.firstStep = { super_batch: r.super_batch, selected: r.selected };
  recordStep(S.history, r, S.playing);
  J.timings = S.history.timings;
  if (r.eval) pushR1(r.eval);
  const lastNoise = S.history.noise[S.history.noise.length - 1];
  if (lastNoise && lastNoise[0] === r.step) {
    J.noise.learner.push([r.step, lastNoise[1]]);
    J.noise.uniform.push([r.step, lastNoise[2]]);
  }
  J.chunkLearnability = { chunks: r.chunk_learnability, superBatch: r.superbatch_learnability };
  grid.show(r.super_batch);
  matrix.setData(mats, r.selected, r.super_batch.length, r.chunk_size);
  renderPanels();
  await animateChunks(r, fast);
  $('grid-stats').textContent = gridStats(grid, r);
  J.steps = r.step;
  return true;
}

function setLit(r, k) {
  grid.setSelection(r.selected, r.chunk_size, k);
  matrix.setLit(k);
  renderChunkChart($('chunk-chart'), r, k);
}

/** Light the chunks one by one (250 ms apart, shorter when playing); skippable. */
async function animateChunks(r, fast) {
  const n = r.chunks || Math.ceil(r.selected.length / Math.max(1, r.chunk_size));
  if (!$('animate').checked || n <= 1) {
    setLit(r, n);
    return;
  }
  const per = fast ? Math.min(250, Math.max(30, 500 / n)) : 250;
  let wake = null;
  let skipped = false;
  S.anim = { skip: () => { skipped = true; if (wake) wake(); } };
  $('skip-anim').disabled = false;
  for (let k = 1; k <= n; k++) {
    if (skipped) break;
    setLit(r, k);
    if (k < n) await new Promise((res) => { wake = res; setTimeout(res, per); });
  }
  setLit(r, n);
  S.anim = null;
  $('skip-anim').disabled = true;
}

function renderPanels() {
  renderLearners({ r1: $('r1-chart'), noise: $('noise-chart'), losses: $('losses') }, S.history, S.settings ? S.settings.method : 'method', $('r1-x').value);
  renderTimings($('timings'), S.history, { backend: S.backend, adapter: S.adapter });
}

/** Let the browser paint and handle input between steps. */
function yieldToBrowser() {
  return new Promise((res) => {
    const t = setTimeout(res, 100);
    requestAnimationFrame(() => setTimeout(() => { clearTimeout(t); res(); }, 0));
  });
}

async function play() {
  if (S.playing || !S.demo || S.busy || S.dead) return;
  S.playing = true;
  updateButtons();
  setStatus('Playing…');
  let why = 'paused';
  while (S.playing && S.demo && !S.dead) {
    if (S.inflight) await S.inflight.catch(() => {}); // a single step still drawing
    if (!S.playing) break;
    const ok = await doStep(true);
    if (!ok) {
      why = 'error';
      break;
    }
    if (S.stopAt !== null && J.steps >= S.stopAt) {
      why = 'stop';
      break;
    }
    await yieldToBrowser();
  }
  if (why === 'stop') {
    S.stopAt = null;
    setStatus(`Paused after step ${J.steps} (stop=${J.steps} in the address).`);
  } else if (why === 'paused' && !S.busy) {
    setStatus(`Paused at step ${J.steps}.`);
  }
  S.playing = false;
  updateButtons();
}

function pause() {
  if (!S.playing) return;
  S.playing = false;
  setStatus(`Pausing after this step (step ${J.steps})…`);
  updateButtons();
}

/**
 * Test hook: destroy the GPU device as a driver reset would; resolves false on the CPU path or with no demo.
 * It waits for the step in flight (which holds the wasm Demo mutably: calling in during it throws
 * "recursive use of an object"), so the loss lands between steps and the next step meets it.
 */
J.loseDevice = async () => {
  while (S.inflight) await S.inflight.catch(() => {});
  if (!S.demo) return false;
  return S.demo.lose_device_for_test();
};

window.addEventListener('error', (e) => {
  recordError(message(e.error || e.message));
});
window.addEventListener('unhandledrejection', (e) => {
  const text = message(e.reason);
  recordError(text);
  showError(`Unexpected error: ${text}`, { restart: true, reload: true });
});

async function main() {
  S.extras = extrasFromQuery(new URLSearchParams(window.location.search));
  wireControls({ form, matrix, tour, grid: () => grid, play, pause, doStep, createDemo, settle, updateButtons, renderPanels });
  updateButtons();
  renderNoiseLegend($('noise-legend'));
  matrix.describe = (pos) => {
    const r = S.history.last;
    if (!r || !grid) return `#${pos}`;
    const i = r.super_batch[pos];
    const kind = grid.noise(i);
    return `"${grid.caption(i)}"${kind === 'clean' ? '' : ` [${kind}]`}`;
  };
  matrix.onHover = (row, col) => grid && grid.highlight(row, col);
  setStatus('Loading the WebAssembly module…', true);
  try {
    S.wasm = await import('./pkg/jest_wgpu.js');
    await S.wasm.default();
  } catch (e) {
    const text = message(e);
    recordError(text);
    setStatus('The WebAssembly module did not load.');
    showError(`Could not load web/pkg/jest_wgpu.js (${text}). The page's WebAssembly package is built by scripts/build-web.sh (into web/pkg), which \`jest-wgpu serve\` also needs.`, { reload: true });
    return;
  }
  let assets;
  try {
    assets = await loadAssets();
    setStatus('Decoding the data…', true);
    S.data = S.wasm.DemoData.load(assets.manifest, ...assets.bins);
  } catch (e) {
    const text = message(e);
    recordError(text);
    setStatus('The data did not load.');
    showError(`Could not load the data: ${text}`, { reload: true });
    return;
  }
  S.shippedReference = assets.reference;
  S.reference = assets.reference;
  grid = new Grid($('grid'), S.data);
  const settings = settingsFromUrl();
  S.settings = null;
  J.settings = settings;
  settingsToForm(form, settings);
  S.stopAt = S.extras.stop;
  const ok = await createDemo(settings);
  tour.maybeStart(S.extras.tour);
  if (ok && S.extras.play) play();
}

main();
