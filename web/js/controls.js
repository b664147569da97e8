// The controls form and buttons: settings -> URL (replaceState), apply / restart, play / pause / step, training a reference here.

import { $, S, message, setStatus, showError, recordError, isDead } from './state.js';
import { METHODS, writeSettingsToUrl, shareQuery, settingsFromForm, plainSettings } from './settings.js';

/** Point the share link at the settings that are running (edits count once applied). */
export function updateShareLink() {
  const s = S.settings;
  if (!s) return;
  const link = $('share-link');
  link.href = window.location.pathname + shareQuery(s);
  link.title = `${window.location.origin}${window.location.pathname}${shareQuery(s)}`;
}

// An edit only marks the settings as pending: the address bar and the share link keep the
// running ones until Apply succeeds, so a copied link always reproduces what is on screen.
function onFormChange(app) {
  $('settings-error').hidden = true;
  try {
    const s = settingsFromForm(app.form, S.settings || S.defaults);
    const applied = S.settings || {};
    const same = (a, b) => (typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a)) : a === b);
    $('pending').hidden = ['method', 'filter_ratio', 'chunks', 'score_gain', 'lr', 'seed'].every((k) => same(s[k], applied[k]));
  } catch (e) {
    $('settings-error').textContent = message(e);
    $('settings-error').hidden = false;
  }
}

async function applySettings(app) {
  $('settings-error').hidden = true;
  let s;
  try {
    const raw = settingsFromForm(app.form, S.settings || S.defaults);
    s = JSON.parse(S.wasm.validate_settings(JSON.stringify(plainSettings(raw))));
  } catch (e) {
    $('settings-error').textContent = `Not applied: ${message(e)}`;
    $('settings-error').hidden = false;
    return;
  }
  const wasPlaying = S.playing;
  $('url-error').hidden = true;
  // the address bar follows only once the new settings run
  if (await app.createDemo(s)) {
    writeSettingsToUrl(s);
    if (wasPlaying) app.play();
  }
}

async function trainReference(app) {
  const steps = Math.round(Number($('ref-steps').value));
  if (!(steps >= 1)) {
    $('ref-status').textContent = 'steps must be a positive number';
    return;
  }
  S.busy = true;
  app.updateButtons();
  await app.settle();
  const bar = $('ref-progress');
  bar.hidden = false;
  bar.max = steps;
  bar.value = 0;
  $('ref-status').textContent = 'starting…';
  setStatus(`Training a reference model on the curated slice (${steps} steps)…`, true);
  const forceCpu = S.extras.cpu || S.backend === 'cpu';
  let bytes = null;
  try {
    const settings = JSON.stringify(plainSettings(S.settings || S.defaults));
    bytes = await S.wasm.train_reference(S.data, settings, steps, forceCpu, (done, total, loss) => {
      bar.max = total;
      bar.value = done;
      $('ref-status').textContent = `step ${done} / ${total} · loss ${Number(loss).toFixed(3)}`;
    });
  } catch (e) {
    const text = message(e);
    recordError(text);
    showError(`Training the reference failed: ${text}`, { restart: !S.demo, reload: isDead(e, text) });
  }
  bar.hidden = true;
  S.busy = false;
  if (bytes) {
    S.reference = bytes;
    S.refName = `trained here (${steps} steps)`;
    $('ref-name').textContent = S.refName;
    $('ref-status').textContent = `done: ${(bytes.length / 1024).toFixed(0)} KiB`;
    await app.createDemo(S.settings || S.defaults);
  } else {
    app.updateButtons();
    setStatus('Reference training stopped.');
  }
}

/**
 * Hook up the controls. app: {form, matrix, tour, grid() -> Grid|null, play, pause, doStep, createDemo,
 * settle, updateButtons, renderPanels}.
 */
export function wireControls(app) {
  const form = app.form;
  form.elements.method.replaceChildren(...METHODS.map(([value, label]) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    return o;
  }));
  form.addEventListener('input', () => onFormChange(app));
  form.addEventListener('change', () => onFormChange(app));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    applySettings(app);
  });
  $('play').addEventListener('click', () => app.play());
  $('pause').addEventListener('click', () => app.pause());
  $('step').addEventListener('click', () => (S.anim ? S.anim.skip() : app.doStep(false)));
  $('train-ref').addEventListener('click', () => trainReference(app));
  $('ref-shipped').addEventListener('click', async () => {
    S.reference = S.shippedReference;
    S.refName = 'shipped';
    $('ref-name').textContent = S.refName;
    $('ref-status').textContent = '';
    await app.createDemo(S.settings || S.defaults);
  });
  $('skip-anim').addEventListener('click', () => S.anim && S.anim.skip());
  $('grid').addEventListener('click', () => S.anim && S.anim.skip());
  $('r1-x').addEventListener('change', () => app.renderPanels());
  for (const radio of document.querySelectorAll('input[name="matrix-kind"]')) {
    radio.addEventListener('change', () => app.matrix.setKind(radio.value));
  }
  $('error-dismiss').addEventListener('click', () => { $('error').hidden = true; });
  $('error-restart').addEventListener('click', async () => {
    $('error').hidden = true;
    if (!(await app.createDemo(S.settings || S.defaults))) {
      $('error-reload').hidden = false;
    }
  });
  $('tour-start').addEventListener('click', () => app.tour.start());
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (app.grid()) app.grid().relayout();
      app.matrix.draw();
    }, 100);
  });
}
