//! Image–text datasets: the shipped builtin splits, user folders/shards, noise kinds and the tokenizer.
//!
//! Images are `image_size × image_size` RGB u8, HWC, stored back to back in [`Dataset::images`].
//! The builtin data (curated / pool / test, 32×32) is embedded in the binary from `data/`
//! (see `docs/data.md`); users bring folders with `captions.tsv`/`.csv` or WebDataset `.tar`
//! shards ([`load_user`]).

mod atlas;
mod builtin;
mod rng;
mod tokenizer;

#[cfg(not(target_arch = "wasm32"))]
mod build;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod font;
#[cfg(not(target_arch = "wasm32"))]
mod holdout;
#[cfg(not(target_arch = "wasm32"))]
mod imageio;
#[cfg(not(target_arch = "wasm32"))]
mod output;
#[cfg(not(target_arch = "wasm32"))]
mod preview;
#[cfg(not(target_arch = "wasm32"))]
mod render;
#[cfg(not(target_arch = "wasm32"))]
mod sources;
#[cfg(not(target_arch = "wasm32"))]
mod sources_emoji;
#[cfg(not(target_arch = "wasm32"))]
mod tabular;
#[cfg(not(target_arch = "wasm32"))]
mod user;

pub use atlas::encode_atlas;
pub use builtin::{builtin_manifest, from_parts as load_split_parts, load_builtin, split_tsv};
#[cfg(not(target_arch = "wasm32"))]
pub use builtin::load_built_dir;
#[cfg(not(target_arch = "wasm32"))]
pub use holdout::{validation_split, VALIDATION_SIZE};
pub use rng::SplitMix64;
pub use tokenizer::{Tokenizer, BOS_ID, BYTE_BASE, EOS_ID, PAD_ID, WORD_BASE};

#[cfg(not(target_arch = "wasm32"))]
pub use build::{build_dataset, BuildOptions, BuildSummary};
#[cfg(not(target_arch = "wasm32"))]
pub use preview::{contact_sheet, write_contact_sheet};
#[cfg(not(target_arch = "wasm32"))]
pub use cli::{DataCmd, describe, load_any};
#[cfg(not(target_arch = "wasm32"))]
pub use user::{load_user, load_user_with, LoadOptions, LoadReport};

use std::fmt;
use std::str::FromStr;

/// Side length of the builtin images.
pub const BUILTIN_IMAGE_SIZE: usize = 32;

/// Source styles of the builtin data, indexed by [`Dataset::style`].
pub const BUILTIN_STYLES: [&str; 8] = [
    "noto",
    "twemoji",
    "openmoji",
    "fluent-emoji-flat",
    "mdi",
    "tabler-outline",
    "tabler-filled",
    "openclipart",
];

/// The style that never appears in `curated` or `pool` (only in `test`).
pub const HELD_OUT_STYLE: &str = "fluent-emoji-flat";

/// The three builtin splits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SplitName {
    Curated,
    Pool,
    Test,
}

impl SplitName {
    pub const ALL: [SplitName; 3] = [SplitName::Curated, SplitName::Pool, SplitName::Test];
    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Curated => "curated",
            SplitName::Pool => "pool",
            SplitName::Test => "test",
        }
    }
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SplitName {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "curated" => Ok(SplitName::Curated),
            "pool" => Ok(SplitName::Pool),
            "test" => Ok(SplitName::Test),
            other => anyhow::bail!("unknown split `{other}`: expected curated, pool or test"),
        }
    }
}

/// What is wrong (if anything) with an image–caption pair. Recorded per item by the build.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// The caption describes the image.
    Clean,
    /// The caption belongs to another item of a different concept (injected).
    Mismatched,
    /// The image is blank or nearly blank (rendered blank, or faded to a ghost: injected).
    Blank,
    /// A one-word caption that says nothing ("image", "icon", ...; injected).
    Generic,
    /// Real collection boilerplate instead of a description (OpenClipart titles shared by a
    /// whole collection, e.g. "Part of the Flat Icon Collection ...").
    Boilerplate,
    /// A near-copy of other pool items: skin-tone variants, look-alike clip art sharing one title.
    NearDuplicate,
    /// Only a file name or identifier as caption ("emoji_u1f600.svg", "mdi-ab-testing").
    Slug,
}

impl NoiseKind {
    pub const ALL: [NoiseKind; 7] = [
        NoiseKind::Clean,
        NoiseKind::Mismatched,
        NoiseKind::Blank,
        NoiseKind::Generic,
        NoiseKind::Boilerplate,
        NoiseKind::NearDuplicate,
        NoiseKind::Slug,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            NoiseKind::Clean => "clean",
            NoiseKind::Mismatched => "mismatched",
            NoiseKind::Blank => "blank",
            NoiseKind::Generic => "generic",
            NoiseKind::Boilerplate => "boilerplate",
            NoiseKind::NearDuplicate => "near_duplicate",
            NoiseKind::Slug => "slug",
        }
    }
    pub fn index(self) -> usize {
        NoiseKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

impl fmt::Display for NoiseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoiseKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        NoiseKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown noise kind `{s}`; the kinds are {}", NoiseKind::ALL.map(|k| k.as_str()).join(", ")))
    }
}

/// A set of image–caption pairs with per-item metadata. All per-item vectors have `len()` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// "builtin/pool", or the user's path.
    pub name: String,
    /// Images are `image_size × image_size` RGB.
    pub image_size: usize,
    /// `len() * image_size * image_size * 3` bytes, HWC, RGB u8, item after item.
    pub images: Vec<u8>,
    pub captions: Vec<String>,
    /// Noise kind per item (`Clean` for curated, test and user data).
    pub noise: Vec<NoiseKind>,
    /// Concept id per item; the same concept in several styles shares an id. Retrieval counts a
    /// hit when concepts match. Ids are global across the builtin splits.
    pub concept: Vec<u32>,
    /// Zero-shot class per item (index into `class_names`), `u32::MAX` where none.
    pub label: Vec<u32>,
    /// Zero-shot class names; prompts are built from these.
    pub class_names: Vec<String>,
    /// Source style per item (index into `style_names`).
    pub style: Vec<u16>,
    pub style_names: Vec<String>,
    /// Stable source identifier per item ("noto:grinning-face", "openclipart:animals/cat.svg",
    /// or the user's file / shard key).
    pub key: Vec<String>,
}

impl Dataset {
    /// An empty dataset with the given name and image size.
    pub fn empty(name: impl Into<String>, image_size: usize) -> Dataset {
        Dataset {
            name: name.into(),
            image_size,
            images: Vec::new(),
            captions: Vec::new(),
            noise: Vec::new(),
            concept: Vec::new(),
            label: Vec::new(),
            class_names: Vec::new(),
            style: Vec::new(),
            style_names: Vec::new(),
            key: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.captions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.captions.is_empty()
    }

    /// Bytes of one image (`image_size * image_size * 3`).
    pub fn image_bytes(&self) -> usize {
        self.image_size * self.image_size * 3
    }

    /// Image `i` as HWC RGB bytes. Panics if `i >= len()` (like slice indexing).
    pub fn image(&self, i: usize) -> &[u8] {
        let b = self.image_bytes();
        &self.images[i * b..(i + 1) * b]
    }

    /// The items at `idx` (in that order; repeats allowed), as a new dataset.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut out = Dataset {
            name: self.name.clone(),
            image_size: self.image_size,
            images: Vec::with_capacity(idx.len() * self.image_bytes()),
            captions: Vec::with_capacity(idx.len()),
            noise: Vec::with_capacity(idx.len()),
            concept: Vec::with_capacity(idx.len()),
            label: Vec::with_capacity(idx.len()),
            class_names: self.class_names.clone(),
            style: Vec::with_capacity(idx.len()),
            style_names: self.style_names.clone(),
            key: Vec::with_capacity(idx.len()),
        };
        for &i in idx {
            out.images.extend_from_slice(self.image(i));
            out.captions.push(self.captions[i].clone());
            out.noise.push(self.noise[i]);
            out.concept.push(self.concept[i]);
            out.label.push(self.label[i]);
            out.style.push(self.style[i]);
            out.key.push(self.key[i].clone());
        }
        out
    }

    /// Style name of item `i`.
    pub fn style_name(&self, i: usize) -> &str {
        self.style_names.get(self.style[i] as usize).map(String::as_str).unwrap_or("?")
    }

    /// Count of items per noise kind, in [`NoiseKind::ALL`] order.
    pub fn noise_counts(&self) -> [usize; NoiseKind::ALL.len()] {
        let mut c = [0usize; NoiseKind::ALL.len()];
        for k in &self.noise {
            c[k.index()] += 1;
        }
        c
    }

    /// Appends the images at `idx` as f32 in [-1, 1] (`x / 127.5 - 1`), HWC, to `out`.
    pub fn images_f32(&self, idx: &[usize], out: &mut Vec<f32>) {
        const LUT: [f32; 256] = {
            let mut t = [0f32; 256];
            let mut i = 0;
            while i < 256 {
                t[i] = i as f32 / 127.5 - 1.0;
                i += 1;
            }
            t
        };
        out.reserve(idx.len() * self.image_bytes());
        for &i in idx {
            out.extend(self.image(i).iter().map(|&v| LUT[v as usize]));
        }
    }

    /// Checks that every per-item vector has `len()` entries and indices are in range.
    pub fn validate(&self) -> anyhow::Result<()> {
        let n = self.len();
        let ok = self.images.len() == n * self.image_bytes()
            && self.noise.len() == n
            && self.concept.len() == n
            && self.label.len() == n
            && self.style.len() == n
            && self.key.len() == n;
        anyhow::ensure!(ok, "dataset {}: per-item vectors disagree in length", self.name);
        anyhow::ensure!(
            self.style.iter().all(|&s| (s as usize) < self.style_names.len()),
            "dataset {}: style index out of range",
            self.name
        );
        anyhow::ensure!(
            self.label.iter().all(|&l| l == u32::MAX || (l as usize) < self.class_names.len()),
            "dataset {}: label out of range",
            self.name
        );
        Ok(())
    }
}

/// A builtin split name (`curated`, `pool`, `test`) or, natively, a path to the user's data.
pub fn load_split(spec: &str, image_size: usize) -> anyhow::Result<Dataset> {
    if let Ok(split) = spec.parse::<SplitName>() {
        let ds = load_builtin(split)?;
        anyhow::ensure!(
            ds.image_size == image_size,
            "builtin data is {}×{}, but {}×{} was asked for",
            ds.image_size,
            ds.image_size,
            image_size,
            image_size
        );
        return Ok(ds);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        load_user(std::path::Path::new(spec), image_size)
    }
    #[cfg(target_arch = "wasm32")]
    {
        anyhow::bail!("`{spec}` is not a builtin split (curated, pool, test)")
    }
}
