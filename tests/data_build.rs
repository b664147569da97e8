//! `data build` on a small fixture laid out like the pinned packages: byte-identical rebuilds,
//! loader counts = manifest, concept-disjoint splits, recorded noise, and clear errors on bad sources.

use jest_wgpu::data::{build_dataset, load_built_dir, BuildOptions, NoiseKind, SplitName};
use serde_json::json;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn package(root: &Path, sub: &str, name: &str, version: &str) {
    put(root, &format!("npm/{sub}/package/package.json"), json!({"name": name, "version": version}).to_string().as_bytes());
}

fn shape(i: usize, fill: &str) -> String {
    let r = 3 + i % 5;
    format!("<circle cx=\"{}\" cy=\"{}\" r=\"{r}\" fill=\"{fill}\"/><rect x=\"2\" y=\"{}\" width=\"{}\" height=\"3\" fill=\"#203040\"/>", 6 + i % 4, 6 + i % 3, 10 + i % 5, 4 + i % 7)
}

/// A miniature of every source in docs/DATA.md.
fn fixture(root: &Path) {
    let emoji_sets = [
        ("iconify-json-noto", "@iconify-json/noto", "1.2.9"),
        ("iconify-json-twemoji", "@iconify-json/twemoji", "1.2.5"),
        ("iconify-json-openmoji", "@iconify-json/openmoji", "1.2.29"),
        ("iconify-json-fluent-emoji-flat", "@iconify-json/fluent-emoji-flat", "1.2.6"),
    ];
    let cats = ["Smileys & Emotion", "Animals & Nature", "Food & Drink", "Objects"];
    let colours = ["#e03030", "#30a040", "#3050e0", "#d0a020", "#a030c0", "#208080"];
    let mut lib = serde_json::Map::new();
    for (s, (sub, name, version)) in emoji_sets.iter().enumerate() {
        package(root, sub, name, version);
        let (mut icons, mut chars, mut catmap) = (serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new());
        for i in 0..48 {
            let n = format!("thing-{i}");
            let cp = format!("{:x}", 0x1f600 + i);
            icons.insert(n.clone(), json!({"body": shape(i + s, colours[(i + s) % 6])}));
            chars.insert(cp.clone(), json!(n));
            catmap.entry(cats[i % 4]).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(n));
            if i % 6 == 0 {
                let v = format!("{n}-dark-skin-tone");
                icons.insert(v.clone(), json!({"body": shape(i + 1, "#503020")}));
                chars.insert(format!("{cp}-1f3ff"), json!(v));
                catmap[cats[i % 4]].as_array_mut().unwrap().push(json!(v));
            }
            let ch: String = char::from_u32(0x1f600 + i as u32).unwrap().to_string();
            lib.insert(ch, json!([n.replace('-', "_"), "shiny", format!("kw{i}")]));
        }
        icons.insert("hidden-one".into(), json!({"body": shape(1, "#000"), "hidden": true}));
        put(root, &format!("npm/{sub}/package/icons.json"), json!({"prefix": sub, "icons": icons, "width": 16, "height": 16}).to_string().as_bytes());
        put(root, &format!("npm/{sub}/package/chars.json"), serde_json::Value::Object(chars).to_string().as_bytes());
        put(root, &format!("npm/{sub}/package/metadata.json"), json!({"categories": catmap}).to_string().as_bytes());
        put(root, &format!("npm/{sub}/package/info.json"), json!({"name": sub, "author": {"name": "a", "url": "u"}, "license": {"title": "T", "spdx": "MIT", "url": "l"}}).to_string().as_bytes());
    }
    package(root, "emojilib", "emojilib", "4.0.3");
    put(root, "npm/emojilib/package/dist/emoji-en-US.json", serde_json::Value::Object(lib).to_string().as_bytes());
    put(root, "npm/emojilib/package/LICENSE", b"MIT emojilib");
    package(root, "mdi-svg", "@mdi/svg", "7.4.47");
    let mut meta = Vec::new();
    for i in 0..60 {
        let n = if i % 10 == 1 { format!("tool-{}-outline", i - 1) } else { format!("tool-{i}") };
        meta.push(json!({"name": n, "aliases": [format!("alias-{i}")], "tags": ["Tools / Things"], "deprecated": i == 59}));
        let svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\"><path d=\"M{} 2L22 {}L2 22Z\"/></svg>", 2 + i % 9, 4 + i % 15);
        put(root, &format!("npm/mdi-svg/package/svg/{n}.svg"), svg.as_bytes());
    }
    put(root, "npm/mdi-svg/package/meta.json", serde_json::Value::Array(meta).to_string().as_bytes());
    put(root, "npm/mdi-svg/package/LICENSE", b"Pictogrammers Free License");
    package(root, "tabler-icons", "@tabler/icons", "3.52.0");
    let mut tab = serde_json::Map::new();
    for i in 0..40 {
        let n = format!("shape-{i}");
        let mut styles = json!({"outline": {}});
        let svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\"><path d=\"M3 {}h{}v8\"/></svg>", 3 + i % 12, 5 + i % 14);
        put(root, &format!("npm/tabler-icons/package/icons/outline/{n}.svg"), svg.as_bytes());
        if i % 4 == 0 {
            styles["filled"] = json!({});
            put(root, &format!("npm/tabler-icons/package/icons/filled/{n}.svg"), svg.replace("none", "currentColor").as_bytes());
        }
        tab.insert(n.clone(), json!({"name": n, "category": "Shapes", "tags": ["geometry", format!("t{i}")], "styles": styles}));
    }
    put(root, "npm/tabler-icons/package/icons.json", serde_json::Value::Object(tab).to_string().as_bytes());
    put(root, "npm/tabler-icons/package/LICENSE", b"MIT tabler");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"openclipart (1:0.18+dfsg-19) unstable; urgency=medium\n").unwrap();
    put(root, "deb/openclipart-svg/usr/share/doc/openclipart-svg/changelog.Debian.gz", &gz.finish().unwrap());
    put(root, "deb/openclipart-svg/usr/share/doc/openclipart-svg/copyright", b"public domain");
    for i in 0..60 {
        let title = match i % 6 {
            0 => "gramastar".to_string(),
            1 => "Part of the Flat Icon Collection (Wed Aug 25 2004)".to_string(),
            2 => String::new(),
            _ => format!("Picture number {i}"),
        };
        let body = if i == 3 { String::new() } else { shape(i, colours[i % 6]) };
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
             xmlns:cc=\"http://web.resource.org/cc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" width=\"16\" height=\"16\">\
             <metadata><rdf:RDF><cc:Work><dc:title>{title}</dc:title><dc:subject><rdf:Bag><rdf:li>thing</rdf:li>\
             <rdf:li>hash</rdf:li></rdf:Bag></dc:subject></cc:Work></rdf:RDF></metadata>{body}</svg>"
        );
        put(root, &format!("deb/openclipart-svg/usr/share/openclipart/svg/dir{}/clip_{i:02}.svg", i % 3), svg.as_bytes());
    }
    put(root, "licenses/Apache-2.0", b"Apache License 2.0");
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn build_is_deterministic_and_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("sources");
    fixture(&src);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let sa = build_dataset(&BuildOptions::new(&src, &a)).unwrap_or_else(|e| panic!("{e:#}"));
    build_dataset(&BuildOptions::new(&src, &b)).unwrap();
    let (ta, tb) = (read_tree(&a), read_tree(&b));
    assert_eq!(ta.iter().map(|t| &t.0).collect::<Vec<_>>(), tb.iter().map(|t| &t.0).collect::<Vec<_>>());
    for (x, y) in ta.iter().zip(&tb) {
        assert!(x.1 == y.1, "{} differs between two builds", x.0);
    }
    assert!(ta.iter().all(|t| !t.0.ends_with(".tmp")), "temporary files left behind");
    assert_eq!(sa.render_failures, 0);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("manifest.json")).unwrap()).unwrap();
    let mut concepts: Vec<HashSet<u32>> = Vec::new();
    for s in SplitName::ALL {
        let ds = load_built_dir(&a, s).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(ds.len() as u64, m["splits"][s.as_str()]["count"].as_u64().unwrap());
        assert_eq!(ds.len(), sa.counts[s.as_str()]);
        for (k, c) in NoiseKind::ALL.iter().zip(ds.noise_counts()) {
            assert_eq!(c as u64, m["splits"][s.as_str()]["noise"][k.as_str()].as_u64().unwrap(), "{s} {k}");
        }
        assert!(!ds.is_empty(), "{s} is empty");
        concepts.push(ds.concept.iter().copied().collect());
    }
    assert!(concepts[0].is_disjoint(&concepts[1]) && concepts[0].is_disjoint(&concepts[2]) && concepts[1].is_disjoint(&concepts[2]));
    let pool = load_built_dir(&a, SplitName::Pool).unwrap();
    let c = pool.noise_counts();
    for k in [NoiseKind::Mismatched, NoiseKind::Boilerplate, NoiseKind::NearDuplicate, NoiseKind::Slug, NoiseKind::Blank] {
        assert!(c[k.index()] > 0, "pool has no {k}: {c:?}");
    }
    let expect_mismatched = (0.25 * pool.len() as f64).round() as usize;
    assert!(c[NoiseKind::Mismatched.index()].abs_diff(expect_mismatched) <= 2, "{c:?}");
    assert_eq!(pool.noise.iter().zip(&pool.captions).filter(|(k, c)| **k == NoiseKind::Generic && c.contains(' ')).count(), 0);
    for f in ["vocab.txt", "ATTRIBUTION.md", "LICENSES/Apache-2.0.txt", "LICENSES/fluent-emoji-flat-MIT.txt"] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    assert_eq!(m["sources"].as_array().unwrap().len(), 8);
    assert!(m["sources"].as_array().unwrap().iter().all(|s| s["inputs_sha256"].as_str().unwrap().len() == 64));
}

#[test]
fn bad_sources_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = build_dataset(&BuildOptions::new(tmp.path().join("nope"), tmp.path().join("out"))).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("fetch-data-sources.sh"), "{msg}");
    let src = tmp.path().join("src");
    fixture(&src);
    package(&src, "mdi-svg", "@mdi/svg", "7.0.0");
    let msg = format!("{:#}", build_dataset(&BuildOptions::new(&src, tmp.path().join("out"))).unwrap_err());
    assert!(msg.contains("expected @mdi/svg@7.4.47") && msg.contains("7.0.0"), "{msg}");
    package(&src, "mdi-svg", "@mdi/svg", "7.4.47");
    put(&src, "npm/mdi-svg/package/meta.json", b"{ not json");
    let msg = format!("{:#}", build_dataset(&BuildOptions::new(&src, tmp.path().join("out"))).unwrap_err());
    assert!(msg.contains("meta.json") && msg.contains("not valid JSON"), "{msg}");
    assert!(!tmp.path().join("out").join("manifest.json").exists(), "a failed build wrote a manifest");
}
