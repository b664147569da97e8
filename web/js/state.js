// Shared page state (S), the test hooks (window.__jest), and the status / error helpers every module uses.

import { emptyHistory } from './panels.js';

export const $ = (id) => document.getElementById(id);

/** Test and teacher hooks (read by tests/browser/run.mjs). */
export const J = {
  ready: false, backend: null, adapter: null, fallback: false, steps: 0, firstStep: null,
  r1: { learner: [], uniform: [] }, errors: [], urlError: null, settings: null, defaults: null,
  busy: false, playing: false,
  noise: { learner: [], uniform: [] }, // [step, 1 - clean share], cumulative, per learner
  chunkLearnability: null, // last step's {chunks: [...], superBatch}
};
window.__jest = J;

export const S = {
  wasm: null, data: null, demo: null, settings: null, defaults: null,
  shippedReference: null, reference: null, refName: 'shipped',
  extras: null, // play / stop / cpu / tour from the URL (set by main)
  playing: false, stepping: false, inflight: null, busy: false, dead: false, stopAt: null,
  history: emptyHistory(), mats: null, anim: null, backend: null, adapter: null,
};

export function message(e) {
  if (e instanceof Error) return e.message || String(e);
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

export function setStatus(text, busy = false) {
  $('status').textContent = text;
  $('status').classList.toggle('busy', busy);
}

export function showError(text, { restart = false, reload = false } = {}) {
  $('error-text').textContent = text;
  $('error-restart').hidden = !restart;
  $('error-reload').hidden = !reload;
  $('error-reload').href = window.location.href;
  $('error').hidden = false;
}

export function recordError(text) {
  J.errors.push(text);
}

/**
 * A plain sentence for an error that means the GPU device is gone (driver reset, sleep, another tab), or null.
 * A failed read-back counts too: the step that meets a freshly lost device can fail there first.
 */
export function gpuLostMessage(text) {
  if (/GPU read-back (?:failed|was cancelled)|async map a buffer/i.test(text)) {
    return `The GPU stopped answering (${text.replace(/[.\s]+$/, '')}): the device was most likely lost (a driver reset, sleep, or another tab); restart the demo.`;
  }
  const lost = /device (?:was |is )?lost\s*(?:\(([^)]*)\))?:?\s*([^]*)/i.exec(text);
  if (lost) {
    const said = lost[2].replace(/\s*(?:Restart the run|;\s*restart the demo)[^]*$/i, '').replace(/[.\s]+$/, '');
    const detail = [lost[1], said].filter(Boolean).join(': ');
    return `The GPU device was lost${detail ? ` (${detail})` : ''}; restart the demo.`;
  }
  return null;
}

/** Whether an error leaves the demo unusable (lost GPU device, a trapped wasm instance). */
export function isDead(e, text) {
  return gpuLostMessage(text) !== null || e instanceof WebAssembly.RuntimeError ||
    /unreachable|recursive use of an object|null pointer passed to rust|memory access out of bounds/i.test(text);
}
