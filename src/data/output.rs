//! Writes a build's outputs (atlases, TSVs, vocabulary, licences, manifest) atomically.

use super::atlas::{encode_atlas, ATLAS_COLUMNS};
use super::build::{BuildOptions, INJECTED, MAX_TITLE_RUN_IN_POOL, SPLIT_FRACTIONS};
use super::builtin::split_tsv;
use super::sources::{hex, SourceInfo};
use super::{Dataset, NoiseKind, SplitName, Tokenizer, BOS_ID, BYTE_BASE, EOS_ID, HELD_OUT_STYLE, PAD_ID, WORD_BASE};
use crate::util::write_atomic;
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const MIT_FLUENT: &str = "MIT License\n\nCopyright (c) Microsoft Corporation.\n\n\
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and \
associated documentation files (the \"Software\"), to deal in the Software without restriction, including \
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell \
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the \
following conditions:\n\nThe above copyright notice and this permission notice shall be included in all \
copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF \
ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A \
PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY \
CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF \
OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n";

/// (file in data/LICENSES, file in the sources folder or None for the embedded MIT text).
const LICENCE_FILES: [(&str, Option<&str>); 6] = [
    ("Apache-2.0.txt", Some("licenses/Apache-2.0")),
    ("mdi-svg-LICENSE.txt", Some("npm/mdi-svg/package/LICENSE")),
    ("tabler-icons-LICENSE.txt", Some("npm/tabler-icons/package/LICENSE")),
    ("emojilib-LICENSE.txt", Some("npm/emojilib/package/LICENSE")),
    ("openclipart-copyright.txt", Some("deb/openclipart-svg/usr/share/doc/openclipart-svg/copyright")),
    ("fluent-emoji-flat-MIT.txt", None),
];

fn attribution(infos: &[SourceInfo]) -> String {
    let mut s = String::from(
        "# Attribution of the builtin data\n\nEvery image in `*.png` here is a 32×32 rendering (resvg, on white) of an \
         SVG from the packages below; captions are derived from their names, keywords, tags and metadata. \
         The renderings and captions are modified versions of the originals. Licence texts are in `LICENSES/`; \
         each item's source is the `key` column of the split's TSV.\n\n",
    );
    for i in infos {
        s.push_str(&format!("- **{}** {} ({}): {}. Licence: {}.\n", i.name, i.version, i.registry, i.attribution, i.licence));
    }
    s.push_str(
        "\nCC-BY-4.0 (Twemoji): https://creativecommons.org/licenses/by/4.0/ — © Twitter, Inc and other \
         contributors, graphics from https://github.com/jdecked/twemoji.\n\
         CC-BY-SA-4.0 (OpenMoji): https://creativecommons.org/licenses/by-sa/4.0/ — OpenMoji, the open-source \
         emoji and icon project, https://openmoji.org. The OpenMoji renderings here (and works adapted from \
         them) are shared under the same licence.\n\
         Apache-2.0 (Noto Emoji, Material Design Icons): see LICENSES/Apache-2.0.txt.\n",
    );
    s
}

fn split_stats(ds: &Dataset) -> Value {
    let n = ds.len().max(1) as f64;
    let mut noise = Map::new();
    let mut share = Map::new();
    for (k, c) in NoiseKind::ALL.iter().zip(ds.noise_counts()) {
        noise.insert(k.to_string(), json!(c));
        share.insert(k.to_string(), json!((c as f64 / n * 10000.0).round() / 10000.0));
    }
    let mut styles = BTreeMap::new();
    for i in 0..ds.len() {
        *styles.entry(ds.style_name(i).to_string()).or_insert(0usize) += 1;
    }
    let concepts: std::collections::BTreeSet<u32> = ds.concept.iter().copied().collect();
    json!({
        "count": ds.len(),
        "concepts": concepts.len(),
        "labelled": ds.label.iter().filter(|&&l| l != u32::MAX).count(),
        "noise": noise,
        "noise_share": share,
        "styles": styles,
    })
}

/// Writes every output of the build; returns the bytes written.
pub fn write_all(
    opts: &BuildOptions,
    datasets: &[Dataset],
    infos: &[SourceInfo],
    render_failures: &[(String, String)],
) -> Result<u64> {
    let out = &opts.out;
    std::fs::create_dir_all(out.join("LICENSES")).with_context(|| format!("creating {}", out.display()))?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (s, ds) in SplitName::ALL.iter().zip(datasets) {
        files.push((format!("{s}.png"), encode_atlas(&ds.images, ds.image_size)?));
        files.push((format!("{s}.tsv"), split_tsv(ds).into_bytes()));
    }
    let words = Tokenizer::build_vocab(datasets[..2].iter().flat_map(|d| d.captions.iter().map(String::as_str)), 2);
    let tok = Tokenizer::from_words(words)?;
    let mut vocab = tok.words().join("\n");
    vocab.push('\n');
    files.push(("vocab.txt".into(), vocab.into_bytes()));
    for (name, src) in LICENCE_FILES {
        let bytes = match src {
            Some(rel) => {
                let p = opts.sources.join(rel);
                std::fs::read(&p).with_context(|| {
                    format!("licence text {} missing: re-run scripts/fetch-data-sources.sh", p.display())
                })?
            }
            None => MIT_FLUENT.as_bytes().to_vec(),
        };
        files.push((format!("LICENSES/{name}"), bytes));
    }
    files.push(("ATTRIBUTION.md".into(), attribution(infos).into_bytes()));
    let archives: BTreeMap<String, String> = std::fs::read_to_string(opts.sources.join("SHA256SUMS"))
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split_once("  ").map(|(h, f)| (f.trim().to_string(), h.trim().to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut file_meta = Map::new();
    for (name, bytes) in &files {
        file_meta.insert(name.clone(), json!({"bytes": bytes.len(), "sha256": hex(&Sha256::digest(bytes))}));
    }
    let mut splits = Map::new();
    for (s, ds) in SplitName::ALL.iter().zip(datasets) {
        splits.insert(s.to_string(), split_stats(ds));
    }
    let ds0 = &datasets[0];
    let manifest = json!({
        "format": 1,
        "generator": "jest-wgpu data build",
        "image_size": ds0.image_size,
        "atlas_columns": ATLAS_COLUMNS,
        "seed": opts.seed,
        "class_names": ds0.class_names,
        "style_names": ds0.style_names,
        "held_out_style": HELD_OUT_STYLE,
        "tokenizer": {"vocab_size": tok.vocab_size(), "words": tok.words().len(), "pad": PAD_ID, "bos": BOS_ID,
                      "eos": EOS_ID, "byte_base": BYTE_BASE, "word_base": WORD_BASE},
        "parameters": {
            "split_fractions_test_curated": SPLIT_FRACTIONS.iter().map(|(f, t, c)| (format!("{f:?}").to_lowercase(), json!([t, c]))).collect::<Map<_, _>>(),
            "injected_shares_of_pool": INJECTED.iter().map(|(k, s)| (k.to_string(), json!(s))).collect::<Map<_, _>>(),
            "max_title_run_in_pool": MAX_TITLE_RUN_IN_POOL,
        },
        "sources": infos,
        "archives_sha256": archives,
        "render_failures": render_failures,
        "splits": splits,
        "files": file_meta,
    });
    let mut mbytes = serde_json::to_vec_pretty(&manifest).context("serialising manifest")?;
    mbytes.push(b'\n');
    files.push(("manifest.json".into(), mbytes));
    let mut total = 0u64;
    for (name, bytes) in &files {
        write_atomic(&out.join(name), bytes)?;
        total += bytes.len() as u64;
    }
    Ok(total)
}
