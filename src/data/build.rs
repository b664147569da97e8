//! `data build`: render the pinned sources, decide the splits, inject recorded noise, write data/.

use super::render::{ghost, is_blank, render_svg};
use super::rng::{hash_str, SplitMix64};
use super::sources::{read_sources, Family, SourceItem};
use super::{Dataset, NoiseKind, SplitName, BUILTIN_IMAGE_SIZE, BUILTIN_STYLES, HELD_OUT_STYLE};
use anyhow::Result;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

/// Inputs of a build. Same sources + same options → byte-identical outputs.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Folder laid out by `scripts/fetch-data-sources.sh` (npm/…, deb/…, licenses/…).
    pub sources: PathBuf,
    /// Output folder (the repository's `data/`).
    pub out: PathBuf,
    pub seed: u64,
    /// Show progress bars.
    pub progress: bool,
}

impl BuildOptions {
    pub fn new(sources: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        BuildOptions { sources: sources.into(), out: out.into(), seed: DEFAULT_SEED, progress: false }
    }
}

pub const DEFAULT_SEED: u64 = 2406_17711;

/// Split fractions by concept group: (test, curated); the rest goes to the pool.
pub const SPLIT_FRACTIONS: [(Family, f64, f64); 3] =
    [(Family::Emoji, 0.12, 0.35), (Family::Icon, 0.03, 0.20), (Family::OpenClipart, 0.05, 0.30)];

/// Injected noise, as shares of the whole pool, drawn from its clean items in this order.
pub const INJECTED: [(NoiseKind, f64); 4] = [
    (NoiseKind::Mismatched, 0.25),
    (NoiseKind::Blank, 0.03),
    (NoiseKind::Generic, 0.03),
    (NoiseKind::Slug, 0.03),
];

/// One-word captions used for `generic` noise.
pub const GENERIC_WORDS: [&str; 10] =
    ["image", "icon", "picture", "clipart", "graphic", "symbol", "drawing", "illustration", "untitled", "img"];

/// Longest run of OpenClipart items sharing one title kept in the pool (sampled by seed).
pub const MAX_TITLE_RUN_IN_POOL: usize = 200;

/// Titles that name a collection rather than the picture.
const BOILERPLATE_HINTS: [&str; 12] =
    ["collection", "theme", "icons", "iconset", "cliparts", "clipart by", "svg", "signs", "sibmission", "maps", "symbols", "elements"];

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    pub counts: BTreeMap<String, usize>,
    pub pool_noise: BTreeMap<String, usize>,
    pub render_failures: usize,
    pub total_bytes: u64,
    pub seconds: f64,
}

/// An item placed in a split, before output.
pub(super) struct Placed {
    pub src: usize,
    pub caption: String,
    pub noise: NoiseKind,
    pub image: Vec<u8>,
}

pub(super) fn clean_text(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(160) {
        Some((i, _)) => s[..i].trim_end().to_string(),
        None => s,
    }
}

fn unit(seed: u64, s: &str) -> f64 {
    (hash_str(seed, s) >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs the whole build and writes `opts.out`.
pub fn build_dataset(opts: &BuildOptions) -> Result<BuildSummary> {
    let t0 = Instant::now();
    let (items, infos) = read_sources(&opts.sources)?;
    let images = render_all(&items, opts.progress);
    let render_failures: Vec<(String, String)> = items
        .iter()
        .zip(&images)
        .filter_map(|(it, r)| r.as_ref().err().map(|e| (it.key.clone(), format!("{e:#}"))))
        .collect();
    let images: Vec<Option<Vec<u8>>> = images.into_iter().map(Result::ok).collect();
    let splits = assign(&items, &images, opts.seed)?;
    let summary_counts: BTreeMap<String, usize> =
        SplitName::ALL.iter().zip(&splits).map(|(s, v)| (s.to_string(), v.len())).collect();
    let datasets = to_datasets(&items, splits, opts.seed);
    let total_bytes = super::output::write_all(opts, &datasets, &infos, &render_failures)?;
    let mut pool_noise = BTreeMap::new();
    for k in &datasets[1].noise {
        *pool_noise.entry(k.to_string()).or_insert(0) += 1;
    }
    Ok(BuildSummary {
        counts: summary_counts,
        pool_noise,
        render_failures: render_failures.len(),
        total_bytes,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn render_all(items: &[SourceItem], progress: bool) -> Vec<Result<Vec<u8>>> {
    let bar = if progress {
        let b = indicatif::ProgressBar::new(items.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("rendering {bar:40} {pos}/{len} SVGs ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let out = items
        .par_iter()
        .map(|it| {
            let r = render_svg(&it.svg, BUILTIN_IMAGE_SIZE);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    out
}

/// Decides, per item, its split, caption and noise kind. Returns curated, pool, test.
fn assign(items: &[SourceItem], images: &[Option<Vec<u8>>], seed: u64) -> Result<[Vec<Placed>; 3]> {
    let held_out = BUILTIN_STYLES.iter().position(|s| *s == HELD_OUT_STYLE).unwrap_or(usize::MAX) as u16;
    let split_of = |it: &SourceItem| -> SplitName {
        let (_, t, c) = SPLIT_FRACTIONS.iter().find(|f| f.0 == it.family).copied().unwrap_or((it.family, 0.0, 0.0));
        let specific_oc = it.family != Family::OpenClipart || it.group_key.starts_with("openclipart-title:");
        let u = unit(seed, &it.group_key);
        if !specific_oc {
            SplitName::Pool
        } else if u < t {
            SplitName::Test
        } else if u < t + c {
            SplitName::Curated
        } else {
            SplitName::Pool
        }
    };
    let title_count = {
        let mut m: HashMap<String, usize> = HashMap::new();
        for it in items.iter().filter(|i| i.family == Family::OpenClipart) {
            *m.entry(it.title.to_lowercase()).or_insert(0) += 1;
        }
        m
    };
    // Keep at most one skin-tone variant per (group, style) in the pool, chosen by seed.
    let mut variant_pick: HashMap<(String, u16), (u64, usize)> = HashMap::new();
    for (i, it) in items.iter().enumerate().filter(|(_, it)| it.variant) {
        let h = hash_str(seed ^ 1, &it.key);
        let e = variant_pick.entry((it.group_key.clone(), it.style)).or_insert((h, i));
        if h < e.0 {
            *e = (h, i);
        }
    }
    let variant_keep: BTreeSet<usize> = variant_pick.values().map(|v| v.1).collect();
    // Long runs of one OpenClipart title: keep the MAX_TITLE_RUN_IN_POOL items of lowest hash.
    let mut runs: HashMap<String, Vec<(u64, usize)>> = HashMap::new();
    for (i, it) in items.iter().enumerate().filter(|(_, it)| it.family == Family::OpenClipart) {
        runs.entry(it.title.to_lowercase()).or_default().push((hash_str(seed ^ 2, &it.key), i));
    }
    let mut run_drop = BTreeSet::new();
    for v in runs.values_mut() {
        v.sort();
        run_drop.extend(v.iter().skip(MAX_TITLE_RUN_IN_POOL).map(|x| x.1));
    }

    let mut out: [Vec<Placed>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (i, it) in items.iter().enumerate() {
        let Some(img) = &images[i] else { continue };
        let blank = is_blank(img);
        let split = split_of(it);
        let place = |caption: &str, noise| Placed { src: i, caption: clean_text(caption), noise, image: img.clone() };
        match split {
            SplitName::Test => {
                if !blank && !it.variant && !clean_text(&it.caption).is_empty() {
                    out[2].push(place(&it.caption, NoiseKind::Clean));
                }
            }
            _ if it.style == held_out => {}
            SplitName::Curated => {
                if !blank && !it.variant && !clean_text(&it.caption).is_empty() {
                    out[0].push(place(&it.caption, NoiseKind::Clean));
                }
            }
            SplitName::Pool => {
                if run_drop.contains(&i) || (it.variant && !variant_keep.contains(&i)) {
                    continue;
                }
                let raw = clean_text(&it.raw_caption);
                let placed = if blank {
                    place(if raw.is_empty() { &it.slug } else { &raw }, NoiseKind::Blank)
                } else if it.variant {
                    place(&raw, NoiseKind::NearDuplicate)
                } else if it.family == Family::OpenClipart && it.title.trim().is_empty() {
                    place(&it.slug, NoiseKind::Slug)
                } else if it.family == Family::OpenClipart && title_count[&it.title.to_lowercase()] > 3 {
                    let t = it.title.to_lowercase();
                    let boiler = BOILERPLATE_HINTS.iter().any(|h| t.contains(h)) || t.chars().any(|c| c.is_ascii_digit());
                    place(&raw, if boiler { NoiseKind::Boilerplate } else { NoiseKind::NearDuplicate })
                } else if raw.is_empty() {
                    place(&it.slug, NoiseKind::Slug)
                } else {
                    place(&raw, NoiseKind::Clean)
                };
                out[1].push(placed);
            }
        }
    }
    // Curated: one item per caption (the lowest hash wins: spreads emoji styles).
    let mut best: HashMap<String, (u64, usize)> = HashMap::new();
    for (j, p) in out[0].iter().enumerate() {
        let h = hash_str(seed ^ 3, &items[p.src].key);
        let e = best.entry(p.caption.to_lowercase()).or_insert((h, j));
        if h < e.0 {
            *e = (h, j);
        }
    }
    let keep: BTreeSet<usize> = best.values().map(|v| v.1).collect();
    let curated = std::mem::take(&mut out[0]);
    out[0] = curated.into_iter().enumerate().filter(|(j, _)| keep.contains(j)).map(|(_, p)| p).collect();
    inject_noise(items, &mut out[1], seed);
    Ok(out)
}

/// Turns clean pool items into recorded noise, in the shares of [`INJECTED`].
fn inject_noise(items: &[SourceItem], pool: &mut [Placed], seed: u64) {
    let n = pool.len();
    let mut rng = SplitMix64::new(seed ^ 0x006e_6f69_7365);
    let mut clean: Vec<usize> = (0..n).filter(|&j| pool[j].noise == NoiseKind::Clean).collect();
    rng.shuffle(&mut clean);
    let originals: Vec<String> = pool.iter().map(|p| p.caption.clone()).collect();
    let clean_sources: Vec<usize> = clean.clone();
    let mut next = clean.into_iter();
    for (kind, share) in INJECTED {
        let want = (share * n as f64).round() as usize;
        for _ in 0..want {
            let Some(j) = next.next() else { return };
            let it = &items[pool[j].src];
            match kind {
                NoiseKind::Mismatched => {
                    let other = (0..64).map(|_| clean_sources[rng.below(clean_sources.len())]).find(|&o| {
                        items[pool[o].src].concept_key != it.concept_key
                            && items[pool[o].src].group_key != it.group_key
                    });
                    let Some(o) = other else { continue };
                    pool[j].caption = originals[o].clone();
                }
                NoiseKind::Blank => {
                    let alpha = 0.04 + 0.06 * rng.unit() as f32;
                    pool[j].image = ghost(&pool[j].image, alpha);
                }
                NoiseKind::Generic => pool[j].caption = GENERIC_WORDS[rng.below(GENERIC_WORDS.len())].to_string(),
                NoiseKind::Slug => pool[j].caption = clean_text(&it.slug),
                _ => continue,
            }
            pool[j].noise = kind;
        }
    }
}

/// Orders each split by seed and attaches global concept ids.
fn to_datasets(items: &[SourceItem], mut splits: [Vec<Placed>; 3], seed: u64) -> Vec<Dataset> {
    let concepts: BTreeSet<&str> = splits.iter().flatten().map(|p| items[p.src].concept_key.as_str()).collect();
    let concept_id: HashMap<&str, u32> = concepts.into_iter().enumerate().map(|(i, k)| (k, i as u32)).collect();
    let mut out = Vec::new();
    for (s, placed) in SplitName::ALL.iter().zip(splits.iter_mut()) {
        let mut rng = SplitMix64::new(seed ^ hash_str(0, s.as_str()));
        rng.shuffle(placed);
        let mut ds = Dataset::empty(format!("builtin/{s}"), BUILTIN_IMAGE_SIZE);
        ds.class_names = super::sources::CLASS_NAMES.iter().map(|c| c.to_string()).collect();
        ds.style_names = BUILTIN_STYLES.iter().map(|c| c.to_string()).collect();
        for p in placed.iter() {
            let it = &items[p.src];
            ds.images.extend_from_slice(&p.image);
            ds.captions.push(p.caption.clone());
            ds.noise.push(p.noise);
            ds.concept.push(concept_id[it.concept_key.as_str()]);
            ds.label.push(it.label.unwrap_or(u32::MAX));
            ds.style.push(it.style);
            ds.key.push(clean_text(&it.key).replace(' ', "_"));
        }
        out.push(ds);
    }
    out
}
