// Shared colours: noise kinds, chunk colours, the heatmap colour maps (diverging and sequential).

/** Noise kinds of the pool (clean has no mark): colour, one-letter badge, and a short description. */
export const NOISE_KINDS = {
  clean: { color: null, letter: '', text: 'clean: the caption describes the image' },
  mismatched: { color: '#ff4d6d', letter: 'M', text: 'mismatched: the caption of another concept' },
  blank: { color: '#b0b0b0', letter: 'B', text: 'blank: an empty or faded-out image' },
  generic: { color: '#ff9f1c', letter: 'G', text: 'generic: one word ("image", "icon")' },
  boilerplate: { color: '#c77dff', letter: 'P', text: 'boilerplate: a collection name or date' },
  near_duplicate: { color: '#2ec4b6', letter: 'D', text: 'near duplicate: a variant or shared title' },
  slug: { color: '#d4a373', letter: 'S', text: 'slug: a file name or identifier only' },
};

export function noiseInfo(kind) {
  return NOISE_KINDS[kind] || { color: '#ffffff', letter: '?', text: kind };
}

/** Colour of chunk k (0-based) of n: a ramp from yellow (first chunk) to cyan-blue (last). */
export function chunkColor(k, n) {
  const t = n <= 1 ? 0 : k / (n - 1);
  const hue = 52 + t * 148;
  return `hsl(${hue.toFixed(0)} 95% 58%)`;
}

function lerpStops(stops, t) {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f));
}

function buildLut(stops) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const rgb = lerpStops(stops, i / 255);
    lut.set(rgb, i * 3);
  }
  return lut;
}

/** Diverging map for signed values: blue (negative) - dark (0) - orange/red (positive). */
export const DIVERGING = buildLut([
  [120, 200, 255], [40, 110, 220], [28, 32, 44], [220, 80, 40], [255, 200, 90],
]);

/** Sequential map for losses: dark purple - magenta - orange - light yellow. */
export const SEQUENTIAL = buildLut([
  [12, 8, 38], [88, 20, 110], [180, 50, 100], [245, 120, 50], [252, 240, 160],
]);

/** CSS linear-gradient of a LUT, for the legend bar. */
export function lutGradient(lut) {
  const parts = [];
  for (let i = 0; i <= 8; i++) {
    const k = Math.round((i / 8) * 255) * 3;
    parts.push(`rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]}) ${(i / 8) * 100}%`);
  }
  return `linear-gradient(to right, ${parts.join(', ')})`;
}

export const LEARNER_COLOR = '#ffb000';
export const UNIFORM_COLOR = '#8fb3d9';
