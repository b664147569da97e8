//! Word-level tokenizer with byte fallback: a shipped vocabulary (data/vocab.txt), no download, any UTF-8.
//!
//! Ids: 0 = pad, 1 = bos, 2 = eos, 3..259 = the 256 bytes, 259.. = vocabulary words (line order
//! of `vocab.txt`). Text is lowercased and split into pieces: maximal runs of alphanumeric
//! characters, and every other non-whitespace character on its own. A piece in the vocabulary
//! is one token; any other piece becomes its UTF-8 bytes. `encode` gives `[bos, pieces.., eos]`
//! cut to `max_len` (bos always kept; eos dropped when cut). There is no padding in `encode`.

use anyhow::{Context, Result};
use std::collections::HashMap;

pub const PAD_ID: u32 = 0;
pub const BOS_ID: u32 = 1;
pub const EOS_ID: u32 = 2;
pub const BYTE_BASE: u32 = 3;
pub const WORD_BASE: u32 = BYTE_BASE + 256;
/// Upper bound on the total vocabulary size the build produces.
pub const MAX_VOCAB: usize = 4096;

static BUILTIN_VOCAB: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/vocab.txt"));

#[derive(Clone, Debug)]
pub struct Tokenizer {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

/// Splits lowercased text into pieces (see the module doc).
pub fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars().flat_map(char::to_lowercase) {
        if ch.is_alphanumeric() {
            cur.push(ch);
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if !ch.is_whitespace() && !ch.is_control() {
            out.push(ch.to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Tokenizer {
    /// The tokenizer whose vocabulary ships in `data/vocab.txt`.
    pub fn builtin() -> Result<Tokenizer> {
        anyhow::ensure!(
            !BUILTIN_VOCAB.is_empty(),
            "data/vocab.txt is empty: the builtin data has not been built; run \
             scripts/fetch-data-sources.sh DIR and `jest-wgpu data build --sources DIR --out data`"
        );
        let text = std::str::from_utf8(BUILTIN_VOCAB).context("data/vocab.txt is not UTF-8")?;
        Tokenizer::from_vocab_text(text).context("reading data/vocab.txt")
    }

    /// Parses a vocabulary file: one word per line, ids in line order from [`WORD_BASE`].
    pub fn from_vocab_text(text: &str) -> Result<Tokenizer> {
        Tokenizer::from_words(text.lines().map(str::to_string).collect())
    }

    pub fn from_words(words: Vec<String>) -> Result<Tokenizer> {
        anyhow::ensure!(
            words.len() + WORD_BASE as usize <= MAX_VOCAB,
            "vocabulary has {} words, more than the {} allowed",
            words.len(),
            MAX_VOCAB - WORD_BASE as usize
        );
        let mut ids = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            anyhow::ensure!(
                !w.is_empty() && pieces(w).len() == 1 && pieces(w)[0] == *w,
                "vocabulary line {}: `{w}` is not a single lowercase piece",
                i + 1
            );
            anyhow::ensure!(
                ids.insert(w.clone(), WORD_BASE + i as u32).is_none(),
                "vocabulary line {}: `{w}` appears twice",
                i + 1
            );
        }
        Ok(Tokenizer { words, ids })
    }

    /// Builds a vocabulary from captions: pieces seen at least `min_count` times, most frequent
    /// first (ties by text), at most `MAX_VOCAB - WORD_BASE` words. Deterministic.
    pub fn build_vocab<'a>(captions: impl IntoIterator<Item = &'a str>, min_count: usize) -> Vec<String> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for c in captions {
            for p in pieces(c) {
                *counts.entry(p).or_insert(0) += 1;
            }
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n >= min_count).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(MAX_VOCAB - WORD_BASE as usize);
        v.into_iter().map(|(w, _)| w).collect()
    }

    /// The vocabulary words in id order (for writing `vocab.txt`).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn vocab_size(&self) -> usize {
        WORD_BASE as usize + self.words.len()
    }

    pub fn pad_id(&self) -> u32 {
        PAD_ID
    }
    pub fn bos_id(&self) -> u32 {
        BOS_ID
    }
    pub fn eos_id(&self) -> u32 {
        EOS_ID
    }

    /// `[bos, tokens.., eos]` cut to `max_len` (at least 1 token: `max_len == 0` acts as 1).
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let max_len = max_len.max(1);
        let mut out = Vec::with_capacity(max_len.min(64));
        out.push(BOS_ID);
        'outer: for p in pieces(text) {
            if let Some(&id) = self.ids.get(&p) {
                if out.len() >= max_len {
                    break;
                }
                out.push(id);
            } else {
                for b in p.bytes() {
                    if out.len() >= max_len {
                        break 'outer;
                    }
                    out.push(BYTE_BASE + b as u32);
                }
            }
        }
        if out.len() < max_len {
            out.push(EOS_ID);
        }
        out
    }

    /// Encodes each text padded with [`PAD_ID`] to exactly `max_len` (row-major `texts.len() × max_len`),
    /// and returns the unpadded lengths.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S], max_len: usize) -> (Vec<u32>, Vec<u32>) {
        let max_len = max_len.max(1);
        let mut ids = vec![PAD_ID; texts.len() * max_len];
        let mut lens = Vec::with_capacity(texts.len());
        for (row, t) in ids.chunks_exact_mut(max_len).zip(texts) {
            let e = self.encode(t.as_ref(), max_len);
            row[..e.len()].copy_from_slice(&e);
            lens.push(e.len() as u32);
        }
        (ids, lens)
    }

    /// Text of a token sequence (specials dropped, byte runs decoded lossily, pieces space-separated).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let flush = |bytes: &mut Vec<u8>, out: &mut Vec<String>| {
            if !bytes.is_empty() {
                out.push(String::from_utf8_lossy(bytes).into_owned());
                bytes.clear();
            }
        };
        for &id in ids {
            if (BYTE_BASE..WORD_BASE).contains(&id) {
                bytes.push((id - BYTE_BASE) as u8);
                continue;
            }
            flush(&mut bytes, &mut out);
            if id >= WORD_BASE {
                if let Some(w) = self.words.get((id - WORD_BASE) as usize) {
                    out.push(w.clone());
                }
            }
        }
        flush(&mut bytes, &mut out);
        out.join(" ")
    }
}
