//! The shipped builtin data: counts match the manifest, splits disjoint by concept, noise as recorded,
//! tokenizer behaviour, and timing notes (load, super-batch assembly).

use jest_wgpu::data::{
    builtin_manifest, contact_sheet, load_builtin, Dataset, NoiseKind, SplitName, Tokenizer, BOS_ID, EOS_ID,
    HELD_OUT_STYLE, PAD_ID,
};
use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

fn all() -> Vec<Dataset> {
    SplitName::ALL.iter().map(|s| load_builtin(*s).unwrap_or_else(|e| panic!("{e:#}"))).collect()
}

#[test]
fn counts_and_noise_match_manifest() {
    let t = Instant::now();
    let splits = all();
    let secs = t.elapsed().as_secs_f64();
    println!("bench: load_builtin(curated+pool+test) = {:.0} ms", secs * 1000.0);
    let m = builtin_manifest().unwrap();
    for (s, ds) in SplitName::ALL.iter().zip(&splits) {
        let ms = &m["splits"][s.as_str()];
        assert_eq!(ds.len() as u64, ms["count"].as_u64().unwrap(), "{s}");
        for (k, c) in NoiseKind::ALL.iter().zip(ds.noise_counts()) {
            assert_eq!(c as u64, ms["noise"][k.as_str()].as_u64().unwrap(), "{s} {k}");
        }
        assert_eq!(ds.images.len(), ds.len() * 32 * 32 * 3);
        assert!(ds.captions.iter().all(|c| !c.trim().is_empty() && !c.contains('\t')), "{s}: empty caption");
        ds.validate().unwrap();
    }
    // Only the pool is noisy; its clean share is roughly half and mismatched about a quarter.
    assert!(splits[0].noise.iter().chain(&splits[2].noise).all(|k| *k == NoiseKind::Clean));
    let pool = &splits[1];
    let c = pool.noise_counts();
    let share = |k: NoiseKind| c[k.index()] as f64 / pool.len() as f64;
    assert!((0.40..0.60).contains(&share(NoiseKind::Clean)), "clean share {}", share(NoiseKind::Clean));
    assert!((0.22..0.28).contains(&share(NoiseKind::Mismatched)));
    assert!(NoiseKind::ALL.iter().all(|&k| c[k.index()] > 0), "every noise kind occurs: {c:?}");
    assert!(pool.len() > 3 * splits[0].len() && splits[0].len() >= 2000 && (1000..=2500).contains(&splits[2].len()));
}

#[test]
fn splits_are_disjoint_by_concept_and_style_held_out() {
    let splits = all();
    let sets: Vec<HashSet<u32>> = splits.iter().map(|d| d.concept.iter().copied().collect()).collect();
    for a in 0..3 {
        for b in a + 1..3 {
            let both: Vec<_> = sets[a].intersection(&sets[b]).take(5).collect();
            assert!(both.is_empty(), "{:?} and {:?} share concepts {both:?}", SplitName::ALL[a], SplitName::ALL[b]);
        }
    }
    let keys: Vec<HashSet<&str>> = splits.iter().map(|d| d.key.iter().map(String::as_str).collect()).collect();
    assert!(keys[0].is_disjoint(&keys[1]) && keys[0].is_disjoint(&keys[2]) && keys[1].is_disjoint(&keys[2]));
    for (i, d) in splits.iter().enumerate() {
        let held = (0..d.len()).filter(|&j| d.style_name(j) == HELD_OUT_STYLE).count();
        assert_eq!(held > 0, i == 2, "held-out style {HELD_OUT_STYLE} only in test ({})", d.name);
    }
    // Curated: no duplicate captions; test: concepts in several styles, zero-shot labels present.
    let caps: HashSet<String> = splits[0].captions.iter().map(|c| c.to_lowercase()).collect();
    assert_eq!(caps.len(), splits[0].len(), "curated has duplicate captions");
    let test = &splits[2];
    let multi = {
        let mut per: std::collections::HashMap<u32, BTreeSet<u16>> = Default::default();
        for j in 0..test.len() {
            per.entry(test.concept[j]).or_default().insert(test.style[j]);
        }
        per.values().filter(|s| s.len() >= 3).count()
    };
    assert!(multi >= 100, "only {multi} test concepts in ≥3 styles");
    let labelled: BTreeSet<u32> = test.label.iter().copied().filter(|&l| l != u32::MAX).collect();
    assert_eq!(labelled.len(), test.class_names.len(), "every zero-shot class occurs in test");
}

#[test]
fn images_are_not_blank_outside_noise() {
    let splits = all();
    for d in [&splits[0], &splits[2]] {
        let blank = (0..d.len()).filter(|&i| d.image(i).iter().all(|&v| v > 230)).count();
        assert_eq!(blank, 0, "{} has {blank} blank images", d.name);
    }
}

#[test]
fn tokenizer_handles_any_text() {
    let tok = Tokenizer::builtin().unwrap();
    assert!(tok.vocab_size() <= 4096 && tok.vocab_size() > 1000);
    assert_eq!(tok.pad_id(), PAD_ID);
    let e = tok.encode("grinning face, smile", 32);
    assert_eq!(e[0], BOS_ID);
    assert_eq!(*e.last().unwrap(), EOS_ID);
    assert!(e.len() <= 6, "known words are one token each: {e:?}");
    assert_eq!(tok.decode(&e), "grinning face , smile");
    for text in ["", "   ", "😀 ünïcödé — 漢字 \u{0}\u{7f}", &"word ".repeat(100)] {
        for max_len in [0, 1, 2, 5, 32] {
            let e = tok.encode(text, max_len);
            assert!(!e.is_empty() && e.len() <= max_len.max(1), "{text:?} {max_len}: {e:?}");
            assert!(e.iter().all(|&id| (id as usize) < tok.vocab_size() && id != PAD_ID));
        }
    }
    assert_eq!(tok.decode(&tok.encode("漢字", 32)), "漢字");
    let caps = &load_builtin(SplitName::Curated).unwrap().captions;
    let lens: Vec<usize> = caps.iter().map(|c| tok.encode(c, 1000).len()).collect();
    let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
    let within32 = lens.iter().filter(|&&l| l <= 32).count() as f64 / lens.len() as f64;
    println!("bench: curated captions: mean {mean:.1} tokens, {:.1}% within 32", within32 * 100.0);
    // Unknown words fall back to bytes; captions put name and category first, so a cut at 32 keeps them.
    assert!(within32 > 0.9 && mean < 24.0);
}

#[test]
fn super_batch_assembly_bench_and_preview() {
    let pool = load_builtin(SplitName::Pool).unwrap();
    let tok = Tokenizer::builtin().unwrap();
    let idx: Vec<usize> = (0..1280).map(|i| (i * 7919) % pool.len()).collect();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut img = Vec::new();
        pool.images_f32(&idx, &mut img);
        let texts: Vec<&str> = idx.iter().map(|&i| pool.captions[i].as_str()).collect();
        let (ids, lens) = tok.encode_batch(&texts, 32);
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(img.len(), 1280 * 32 * 32 * 3);
        assert_eq!((ids.len(), lens.len()), (1280 * 32, 1280));
        assert!(img.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
    println!("bench: super-batch of 1280 (images → f32 [-1,1] + tokenise to 32) = {:.2} ms", best * 1000.0);
    let png = contact_sheet(&pool, &idx[..24], 8, "pool sample").unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pool-preview.png");
    std::fs::write(&out, png).unwrap();
    println!("preview: {}", out.display());
}
