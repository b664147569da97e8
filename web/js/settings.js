// Settings <-> URL query: the demo's whole state lives in ?method=&f=&chunks=&gain=&lr=&seed= (plus play/stop/cpu/tour extras).

/** The seven methods, in the order the method <select> lists them, with a short label. */
export const METHODS = [
  ['jest', 'jest — joint, learnability A = L_learner − L_ref'],
  ['learnability', 'learnability — same as jest'],
  ['independent-learnability', 'independent learnability — each example alone'],
  ['flexi-jest', 'flexi-jest — learner scores at half resolution'],
  ['easy-ref', 'easy-ref — A = −L_ref (CLIP-score-like)'],
  ['hard-learner', 'hard-learner — A = L_learner (chases noise)'],
  ['uniform', 'uniform — no selection'],
];

/** URL key -> settings key, for the six settings a teacher can share. */
export const URL_KEYS = [
  ['method', 'method'],
  ['f', 'filter_ratio'],
  ['chunks', 'chunks'],
  ['gain', 'score_gain'],
  ['lr', 'lr'],
  ['seed', 'seed'],
];

const NUMERIC = new Set(['filter_ratio', 'chunks', 'score_gain', 'lr', 'seed']);
const WHOLE = new Set(['chunks', 'seed']);

/** `raw` as the number setting `key` takes, or an error naming `label` and what it takes. */
function parseNumber(key, label, raw) {
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value)) throw new Error(`${label} must be a number (got "${raw}")`);
  if (WHOLE.has(key) && !(Number.isInteger(value) && value >= 0)) throw new Error(`${label} must be a whole number, 0 or more (got "${raw}")`);
  return value;
}

/**
 * Read the settings a URL query asks for. Returns {settings, error}: settings holds only the keys
 * present (numbers parsed); error is a message when a value is not even a number (validate_settings
 * checks everything else).
 */
export function settingsFromQuery(params) {
  const settings = {};
  for (const [urlKey, key] of URL_KEYS) {
    if (!params.has(urlKey)) continue;
    const raw = params.get(urlKey).trim();
    if (!NUMERIC.has(key)) {
      settings[key] = raw;
      continue;
    }
    try {
      settings[key] = parseNumber(key, urlKey, raw);
    } catch (e) {
      return { settings: {}, error: e.message };
    }
  }
  return { settings, error: null };
}

/** Extras that are not settings: play=1, stop=N, cpu=1, tour=0. */
export function extrasFromQuery(params) {
  const stop = params.has('stop') ? Number(params.get('stop')) : null;
  return {
    play: params.get('play') === '1',
    stop: stop !== null && Number.isInteger(stop) && stop > 0 ? stop : null,
    cpu: params.get('cpu') === '1',
    tour: params.get('tour') !== '0',
  };
}

/** Write the six settings into the current URL (history.replaceState), keeping every other key. */
export function writeSettingsToUrl(settings) {
  const url = new URL(window.location.href);
  for (const [urlKey, key] of URL_KEYS) {
    if (settings[key] === undefined || settings[key] === null || settings[key] === '') {
      url.searchParams.delete(urlKey);
    } else {
      url.searchParams.set(urlKey, String(settings[key]));
    }
  }
  window.history.replaceState(null, '', url.toString());
}

/** The share link for settings: the page URL with only the six settings in its query. */
export function shareQuery(settings) {
  const params = new URLSearchParams();
  for (const [urlKey, key] of URL_KEYS) {
    if (settings[key] !== undefined) params.set(urlKey, String(settings[key]));
  }
  return '?' + params.toString();
}

/** A number as a person would type it (f32 values come back as 0.003000000026077032). */
export function tidy(v) {
  return Number.isFinite(v) ? String(Number(Number(v).toPrecision(7))) : String(v);
}

/** Fill the controls form from a settings object. */
export function settingsToForm(form, settings) {
  const chunks = form.elements.chunks;
  const batch = settings.batch || 32;
  // chunk counts that divide b, plus the current value so the select can always show it
  const divisors = [];
  for (let n = 1; n <= batch; n++) if (batch % n === 0) divisors.push(n);
  if (!divisors.includes(settings.chunks)) divisors.push(settings.chunks);
  chunks.replaceChildren(...divisors.map((n) => {
    const o = document.createElement('option');
    o.value = String(n);
    o.textContent = `${n} (m = ${Number.isInteger(batch / n) ? batch / n : '?'})`;
    return o;
  }));
  form.elements.method.value = settings.method;
  form.elements.f.value = tidy(settings.filter_ratio);
  chunks.value = String(settings.chunks);
  form.elements.gain.value = tidy(settings.score_gain);
  form.elements.lr.value = tidy(settings.lr);
  form.elements.seed.value = String(settings.seed);
}

/** Read the controls form into a settings object on top of base (batch, eval_every are kept). */
export function settingsFromForm(form, base) {
  const s = { ...base };
  delete s.super_batch;
  delete s.chunk_size;
  const num = (name, key, label) => parseNumber(key, label, String(form.elements[name].value).trim());
  s.method = form.elements.method.value;
  s.filter_ratio = num('f', 'filter_ratio', 'filter ratio f');
  s.chunks = num('chunks', 'chunks', 'chunks');
  s.score_gain = num('gain', 'score_gain', 'score gain');
  s.lr = num('lr', 'lr', 'learning rate');
  s.seed = num('seed', 'seed', 'seed');
  return s;
}

/** Only the keys validate_settings knows (drop the derived super_batch / chunk_size). */
export function plainSettings(s) {
  const out = { ...s };
  delete out.super_batch;
  delete out.chunk_size;
  return out;
}
