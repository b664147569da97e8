// Guided tour: a few dismissible popovers anchored to the panels; dismissal remembered in localStorage.

const KEY = 'jest-wgpu.tour.done';

const STEPS = [
  {
    anchor: '#grid-panel',
    title: '1 / 5 · The super-batch',
    text: 'Each step the pool offers B examples (the super-batch). Coloured badges mark noisy pairs — a wrong caption, a blank image, boilerplate. The method keeps only b of them to train on; those light up, numbered by the chunk that picked them.',
  },
  {
    anchor: '#matrix-panel',
    title: '2 / 5 · The score matrix',
    text: 'Row i = image i, column j = caption j. Learnability A = L_learner − L_ref is high where the learner still fails but the reference (trained on clean data) succeeds. Selected items come first; the nested squares are the chosen sub-batch growing chunk by chunk.',
  },
  {
    anchor: '#sampler-panel',
    title: '3 / 5 · Joint selection in chunks',
    text: 'JEST picks the b examples in N chunks. Each chunk is drawn given the ones before, scoring how much each candidate adds to the whole sub-matrix. The chart shows the mean learnability of the batch so far after each chunk, against the super-batch mean (dashed).',
  },
  {
    anchor: '#learners-panel',
    title: '4 / 5 · Two learners, same data',
    text: 'The chosen method and a uniform learner start from the same weights and see the same super-batches. Compare held-out retrieval R@1 per step and per FLOP (scoring costs compute), and how much noise each one trains on.',
  },
  {
    anchor: '#controls',
    title: '5 / 5 · Try it',
    text: 'Press play or step. Change the method, the filter ratio f (B = b / (1 − f)), the chunks or the score gain, then Apply / restart. The address bar keeps the settings, so you can share the link. You can even train a new reference here.',
  },
];

function remembered() {
  try {
    return window.localStorage.getItem(KEY) === '1';
  } catch {
    return false;
  }
}

function remember() {
  try {
    window.localStorage.setItem(KEY, '1');
  } catch {
    // storage may be disabled: the tour just shows again next time
  }
}

export class Tour {
  constructor(root) {
    this.root = root; // #tour element (hidden popover)
    this.index = -1;
    this.anchor = null;
    this.onKey = (e) => {
      if (e.key === 'Escape') this.end();
    };
    this.onResize = () => this.place();
  }

  /** Show on first visit unless suppressed (?tour=0) or dismissed before. */
  maybeStart(enabled) {
    if (enabled && !remembered()) this.start();
  }

  start() {
    this.index = 0;
    window.addEventListener('keydown', this.onKey);
    window.addEventListener('resize', this.onResize);
    window.addEventListener('scroll', this.onResize, { passive: true });
    this.show();
  }

  end() {
    if (this.index < 0) return;
    this.index = -1;
    remember();
    this.root.hidden = true;
    if (this.anchor) this.anchor.classList.remove('tour-anchor');
    this.anchor = null;
    window.removeEventListener('keydown', this.onKey);
    window.removeEventListener('resize', this.onResize);
    window.removeEventListener('scroll', this.onResize);
  }

  next() {
    if (this.index + 1 >= STEPS.length) this.end();
    else {
      this.index += 1;
      this.show();
    }
  }

  show() {
    const step = STEPS[this.index];
    if (this.anchor) this.anchor.classList.remove('tour-anchor');
    this.anchor = document.querySelector(step.anchor);
    if (this.anchor) this.anchor.classList.add('tour-anchor');
    const title = document.createElement('h3');
    title.textContent = step.title;
    const text = document.createElement('p');
    text.textContent = step.text;
    const buttons = document.createElement('div');
    buttons.className = 'tour-buttons';
    const skip = document.createElement('button');
    skip.type = 'button';
    skip.id = 'tour-skip';
    skip.textContent = 'Skip tour';
    skip.addEventListener('click', () => this.end());
    const next = document.createElement('button');
    next.type = 'button';
    next.id = 'tour-next';
    next.className = 'primary';
    next.textContent = this.index + 1 < STEPS.length ? 'Next' : 'Done';
    next.addEventListener('click', () => this.next());
    buttons.append(skip, next);
    this.root.replaceChildren(title, text, buttons);
    this.root.hidden = false;
    if (this.anchor) this.anchor.scrollIntoView({ block: 'nearest' });
    this.place();
    next.focus({ preventScroll: true });
  }

  /** Put the popover next to its panel (below, above, right, left; else over its top), inside the viewport. */
  place() {
    if (this.index < 0 || !this.anchor) return;
    const a = this.anchor.getBoundingClientRect();
    const pop = this.root.getBoundingClientRect();
    const vw = document.documentElement.clientWidth;
    const vh = window.innerHeight;
    const gap = 10;
    const clampX = (x) => Math.min(Math.max(8, x), Math.max(8, vw - pop.width - 8));
    const clampY = (y) => Math.min(Math.max(8, y), Math.max(8, vh - pop.height - 8));
    let top;
    let left;
    if (a.bottom + gap + pop.height <= vh - 8) {
      top = a.bottom + gap;
      left = clampX(a.left + 24);
    } else if (a.top - gap - pop.height >= 8) {
      top = a.top - gap - pop.height;
      left = clampX(a.left + 24);
    } else if (a.right + gap + pop.width <= vw - 8) {
      top = clampY(a.top + 24);
      left = a.right + gap;
    } else if (a.left - gap - pop.width >= 8) {
      top = clampY(a.top + 24);
      left = a.left - gap - pop.width;
    } else {
      top = clampY(a.top + 48);
      left = clampX(a.left + 24);
    }
    this.root.style.top = `${Math.round(top)}px`;
    this.root.style.left = `${Math.round(left)}px`;
  }
}
