//! Emoji sources: the four iconify emoji sets (names, codepoints, categories) plus emojilib keywords.

use super::sources::{class_of, join_parts, npm_package, words, Family, Hasher, SourceInfo, SourceItem, CLASS_NAMES};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const SKIN_TONES: [&str; 5] = ["1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"];

pub const EMOJI_SETS: [(u16, &str, &str, &str); 4] = [
    (0, "iconify-json-noto", "@iconify-json/noto", "1.2.9"),
    (1, "iconify-json-twemoji", "@iconify-json/twemoji", "1.2.5"),
    (2, "iconify-json-openmoji", "@iconify-json/openmoji", "1.2.29"),
    (3, "iconify-json-fluent-emoji-flat", "@iconify-json/fluent-emoji-flat", "1.2.6"),
];

struct EmojiRaw {
    style: u16,
    name: String,
    cps: String,
    svg: Vec<u8>,
    label: u32,
}

fn read_emoji_set(dir: &Path, set: (u16, &str, &str, &str), infos: &mut Vec<SourceInfo>) -> Result<Vec<EmojiRaw>> {
    let (style, sub, name, version) = set;
    let root = npm_package(dir, sub, name, version)?;
    let mut h = Hasher::new(&root);
    let icons = h.json(&root.join("icons.json"))?;
    let chars = h.json(&root.join("chars.json"))?;
    let meta = h.json(&root.join("metadata.json"))?;
    let info = h.json(&root.join("info.json"))?;
    let what = root.join("icons.json");
    let (dw, dh) = (icons["width"].as_f64().unwrap_or(16.0), icons["height"].as_f64().unwrap_or(16.0));
    let mut name_cps: BTreeMap<String, String> = BTreeMap::new();
    for (cp, n) in chars.as_object().with_context(|| format!("{}/chars.json: not an object", root.display()))? {
        let cps: Vec<&str> = cp.split('-').filter(|c| *c != "fe0f").collect();
        let n = n.as_str().unwrap_or_default().to_string();
        let e = name_cps.entry(n).or_insert_with(|| cps.join("-"));
        if cps.join("-") < *e {
            *e = cps.join("-");
        }
    }
    let mut name_cat: HashMap<String, u32> = HashMap::new();
    for (cat, list) in meta["categories"].as_object().with_context(|| format!("{}/metadata.json: no categories", root.display()))? {
        if let Some(c) = class_of(cat) {
            for n in list.as_array().into_iter().flatten() {
                name_cat.insert(n.as_str().unwrap_or_default().to_string(), c);
            }
        }
    }
    let map = icons["icons"].as_object().with_context(|| format!("{}: no `icons` object", what.display()))?;
    let mut out = Vec::new();
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    for n in names {
        let icon = &map[n];
        if icon["hidden"].as_bool() == Some(true) {
            continue;
        }
        let (Some(cps), Some(&label)) = (name_cps.get(n), name_cat.get(n)) else { continue };
        let body = icon["body"].as_str().with_context(|| format!("{}: icon `{n}` has no body", what.display()))?;
        let (l, t) = (icon["left"].as_f64().unwrap_or(0.0), icon["top"].as_f64().unwrap_or(0.0));
        let (w, hh) = (icon["width"].as_f64().unwrap_or(dw), icon["height"].as_f64().unwrap_or(dh));
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" \
             viewBox=\"{l} {t} {w} {hh}\" width=\"{w}\" height=\"{hh}\">{}</svg>",
            body.replace("currentColor", "#000000")
        );
        out.push(EmojiRaw { style, name: n.clone(), cps: cps.clone(), svg: svg.into_bytes(), label });
    }
    let (sha, files) = h.finish();
    let lic = &info["license"];
    infos.push(SourceInfo {
        name: name.into(),
        registry: "npm".into(),
        version: version.into(),
        licence: lic["spdx"].as_str().unwrap_or("?").into(),
        attribution: format!(
            "{} by {} ({}), licence {} <{}>",
            info["name"].as_str().unwrap_or(name),
            info["author"]["name"].as_str().unwrap_or("?"),
            info["author"]["url"].as_str().unwrap_or("?"),
            lic["title"].as_str().unwrap_or("?"),
            lic["url"].as_str().unwrap_or("?")
        ),
        inputs_sha256: sha,
        files_read: files,
        items: out.len(),
    });
    Ok(out)
}

fn emoji_slug(style: u16, name: &str, cps: &str) -> String {
    match style {
        0 => format!("emoji_u{}.svg", cps.replace('-', "_")),
        1 => format!("{cps}.svg"),
        2 => format!("{}.svg", cps.to_uppercase()),
        _ => format!("{}_flat.svg", name.replace('-', "_")),
    }
}

/// All emoji items; captions from the canonical name (first of noto, twemoji, openmoji, fluent)
/// plus emojilib keywords and the category.
pub(super) fn read_emoji(dir: &Path, infos: &mut Vec<SourceInfo>) -> Result<Vec<SourceItem>> {
    let mut raw = Vec::new();
    for set in EMOJI_SETS {
        raw.extend(read_emoji_set(dir, set, infos)?);
    }
    let root = npm_package(dir, "emojilib", "emojilib", "4.0.3")?;
    let mut h = Hasher::new(&root);
    let lib = h.json(&root.join("dist/emoji-en-US.json"))?;
    let mut keywords: HashMap<String, Vec<String>> = HashMap::new();
    for (emoji, kws) in lib.as_object().context("emojilib: dist/emoji-en-US.json is not an object")? {
        let cps: Vec<String> =
            emoji.chars().filter(|c| *c != '\u{fe0f}').map(|c| format!("{:x}", c as u32)).collect();
        let kws = kws.as_array().into_iter().flatten().filter_map(|k| k.as_str()).map(words).collect();
        keywords.insert(cps.join("-"), kws);
    }
    let (sha, files) = h.finish();
    let matched = raw.iter().filter(|r| keywords.contains_key(&r.cps)).count();
    infos.push(SourceInfo {
        name: "emojilib".into(),
        registry: "npm".into(),
        version: "4.0.3".into(),
        licence: "MIT".into(),
        attribution: "emojilib by Mu-An Chiou (https://github.com/muan/emojilib), MIT".into(),
        inputs_sha256: sha,
        files_read: files,
        items: matched,
    });
    let mut canon: HashMap<&str, &str> = HashMap::new();
    for r in &raw {
        canon.entry(r.cps.as_str()).or_insert(r.name.as_str());
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in &raw {
        let name = words(canon[r.cps.as_str()]);
        let name_words: Vec<&str> = name.split(' ').collect();
        let kws = keywords.get(&r.cps).cloned().unwrap_or_default();
        let extra = kws
            .into_iter()
            .skip(1)
            .filter(|k| k.chars().any(char::is_alphanumeric) && !name_words.contains(&k.as_str()))
            .take(6);
        let caption = join_parts(
            std::iter::once(name.clone()).chain(std::iter::once(CLASS_NAMES[r.label as usize].to_string())).chain(extra),
        );
        let cps: Vec<&str> = r.cps.split('-').collect();
        let base: Vec<&str> = cps.iter().copied().filter(|c| !SKIN_TONES.contains(c)).collect();
        out.push(SourceItem {
            family: Family::Emoji,
            style: r.style,
            key: format!("{}:{}", super::BUILTIN_STYLES[r.style as usize], r.name),
            svg: r.svg.clone(),
            concept_key: format!("emoji:{}", r.cps),
            group_key: format!("emoji:{}", base.join("-")),
            raw_caption: caption.clone(),
            caption,
            slug: emoji_slug(r.style, &r.name, &r.cps),
            label: Some(r.label),
            variant: base.len() != cps.len(),
            title: String::new(),
        });
    }
    Ok(out)
}

