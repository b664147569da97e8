// Loading: the data files and the shipped reference (with a progress status), and the settings the URL asks for.

import { $, J, S, message, setStatus, showError, recordError } from './state.js';
import { settingsFromQuery, writeSettingsToUrl } from './settings.js';

async function fetchBytes(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`could not load ${path} (HTTP ${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The manifest text, the six data files (curated, pool, test: PNG then TSV) and the reference bytes (or null). */
export async function loadAssets() {
  const files = ['curated.png', 'curated.tsv', 'pool.png', 'pool.tsv', 'test.png', 'test.tsv'].map((f) => `assets/data/${f}`);
  let done = 0;
  const total = files.length + 2;
  const tick = () => setStatus(`Loading the data: ${++done} of ${total} files…`, true);
  const manifestRes = await fetch('assets/data/manifest.json');
  if (!manifestRes.ok) throw new Error(`could not load assets/data/manifest.json (HTTP ${manifestRes.status})`);
  const manifest = await manifestRes.text();
  tick();
  const bins = await Promise.all(files.map((f) => fetchBytes(f).then((b) => (tick(), b))));
  let reference = null;
  try {
    reference = await fetchBytes('assets/reference.safetensors');
  } catch (e) {
    recordError(message(e));
    showError(`No shipped reference model (${message(e)}): methods that need one will fail until you train one here.`);
  }
  tick();
  return { manifest, bins, reference };
}

/** URL settings -> validated settings; on error, the defaults and a visible message. */
export function settingsFromUrl() {
  const { validate_settings } = S.wasm;
  S.defaults = JSON.parse(validate_settings('{}'));
  J.defaults = S.defaults;
  const { settings, error } = settingsFromQuery(new URLSearchParams(window.location.search));
  let problem = error;
  let chosen = S.defaults;
  if (!problem) {
    try {
      chosen = JSON.parse(validate_settings(JSON.stringify({ ...S.defaults, ...settings })));
    } catch (e) {
      problem = message(e);
    }
  }
  if (problem) {
    J.urlError = problem;
    $('url-error').textContent = `The settings in this link are not valid: ${problem}. Running the default settings instead.`;
    $('url-error').hidden = false;
    chosen = S.defaults;
    writeSettingsToUrl(chosen);
  }
  return chosen;
}
