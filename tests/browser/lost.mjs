// --mode lost of run.mjs: destroys the GPU device mid-run; expects a message, a restart button, a live tab, a working restart.

import path from 'node:path';

/** The keys this mode adds to the JSON line (their values before anything happened). */
export const LOST_KEYS = {
  lost_called: false, lost_error_text: null, restart_visible: false, responsive: false, recovered: false,
  steps_after_restart: 0, steps_at_loss: null, playing_at_loss: null, error_after_s: null, steps_seen_after_restart: [],
  play_clicked: false, recovered_after_s: null,
};

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** A page promise that must settle within ms, or the tab counts as frozen. */
function within(p, ms, what) {
  let timer;
  const late = new Promise((_, rej) => { timer = setTimeout(() => rej(Object.assign(new Error(`${what}: no answer within ${ms / 1000} s (tab frozen?)`), { code: 3 })), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function pageState(page) {
  return within(page.evaluate(() => {
    const j = window.__jest;
    const visible = (el) => {
      if (!el || el.hidden) return false;
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      return style.display !== 'none' && style.visibility !== 'hidden' && box.width > 0 && box.height > 0;
    };
    const error = document.getElementById('error');
    return {
      ready: j.ready, backend: j.backend, steps: j.steps, busy: j.busy, playing: j.playing,
      error: visible(error) ? error.querySelector('#error-text').textContent.trim() : null,
      restart: visible(document.getElementById('error-restart')),
      play: !document.getElementById('play').disabled,
    };
  }), 5000, 'reading the page');
}

export async function runLost(page, { log, result, waitSteps, out, crashed }) {
  const check = () => {
    if (crashed()) throw Object.assign(new Error('the page crashed'), { code: 3 });
  };
  await waitSteps(2, false);
  // (the hook waits for the step in flight, so the device goes between two steps of Play)
  const call = await within(page.evaluate(async () => {
    const lost = await window.__jest.loseDevice();
    return { lost, steps: window.__jest.steps, playing: window.__jest.playing, backend: window.__jest.backend };
  }), 60000, 'loseDevice()');
  result.lost_called = call.lost;
  result.steps_at_loss = call.steps;
  result.playing_at_loss = call.playing;
  log(`lost: loseDevice() -> ${call.lost} after step ${call.steps} (playing=${call.playing})`);
  if (call.lost !== true) throw new Error(`__jest.loseDevice() returned ${call.lost} (backend ${call.backend})`);

  // the error with its restart button, within 120 s
  const lostAt = Date.now();
  let st;
  for (;;) {
    check();
    st = await pageState(page);
    if (st.error && st.restart) break;
    if (Date.now() - lostAt > 120000) {
      throw Object.assign(new Error(`no error with a restart button 120 s after losing the device (steps ${st.steps}, busy=${st.busy}, playing=${st.playing}, error=${JSON.stringify(st.error)})`), { code: 2 });
    }
    await sleep(250);
  }
  result.error_after_s = Number(((Date.now() - lostAt) / 1000).toFixed(1));
  result.lost_error_text = st.error;
  result.restart_visible = st.restart;
  log(`lost: after ${result.error_after_s} s the page says: ${st.error}`);
  await within(page.screenshot({ path: path.join(out, 'lost.png'), fullPage: true }), 10000, 'screenshot');

  // the tab still answers script and still paints
  const t0 = Date.now();
  await within(page.evaluate(() => 1 + 1), 5000, 'evaluate(1 + 1)');
  await within(page.evaluate(() => new Promise((res) => requestAnimationFrame(() => res(true)))), 5000, 'requestAnimationFrame');
  result.responsive = true;
  log(`lost: the tab answers and paints (${Date.now() - t0} ms)`);

  // restart: back to step 0 on a fresh device, then Play and at least one step
  const restartAt = Date.now();
  await page.click('#error-restart', { timeout: 5000 });
  const seen = result.steps_seen_after_restart;
  for (;;) {
    check();
    st = await pageState(page);
    if (seen[seen.length - 1] !== st.steps) seen.push(st.steps);
    if (st.ready && st.backend && !st.playing && st.play && !result.play_clicked && st.steps === 0) {
      await page.click('#play', { timeout: 5000 });
      result.play_clicked = true;
      log(`lost: restarted on ${st.backend} after ${((Date.now() - restartAt) / 1000).toFixed(1)} s; pressed Play`);
    }
    if (st.ready && st.backend && seen.includes(0) && st.steps >= 1) break;
    if (st.error && st.restart && !st.busy && !st.ready) throw new Error(`the restart failed: ${st.error}`);
    if (Date.now() - restartAt > 120000) {
      throw Object.assign(new Error(`no step within 120 s of the restart (ready=${st.ready}, steps ${st.steps}, error=${JSON.stringify(st.error)})`), { code: 2 });
    }
    await sleep(250);
  }
  result.recovered = true;
  result.steps_after_restart = st.steps;
  result.recovered_after_s = Number(((Date.now() - restartAt) / 1000).toFixed(1));
  log(`lost: recovered, step ${st.steps} ${result.recovered_after_s} s after the restart (steps seen: ${seen.join(' ')})`);
  await page.click('#pause', { timeout: 5000 }).catch(() => {});
}
