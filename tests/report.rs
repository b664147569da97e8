//! The `compare` report writer: files, results.json shape and round trip, SVG/HTML/CSV well-formedness.

use std::collections::BTreeMap;
use std::path::Path;

use jest_wgpu::report::{write_report, CompareResults, CurveRow, Flops, MethodResult, SelectionRow, SummaryRow};
use serde_json::Value;

const KINDS: &[&str] = &["clean", "mismatched", "blank", "generic", "boilerplate", "near_duplicate", "slug"];

fn shares(clean: f64) -> BTreeMap<String, f64> {
    let rest = (1.0 - clean) / (KINDS.len() - 1) as f64;
    KINDS.iter().map(|k| (k.to_string(), if *k == "clean" { clean } else { rest })).collect()
}

fn run(method: &str, seed: u64, f: f64, quality: f64, clean: f64) -> MethodResult {
    let curve: Vec<CurveRow> = (0..5)
        .map(|i| {
            let step = (i + 1) * 20;
            let r1 = quality * (1.0 - (-(step as f64) / 40.0).exp()) + 0.003 * seed as f64;
            CurveRow {
                step,
                examples: step * 64,
                flops: step as f64 * 3.1e9 * (1.0 + quality),
                zero_shot_acc: r1 * 1.5,
                i2t_r1: r1 * 1.1,
                t2i_r1: r1 * 0.9,
                i2t_r5: r1 * 3.0,
                t2i_r5: r1 * 2.8,
                r1_smoothed: r1,
                r1_stderr: 0.01,
                loss: 5.0 - i as f64 * 0.3,
            }
        })
        .collect();
    let selection = curve
        .iter()
        .map(|c| SelectionRow {
            step: c.step,
            noise_share: shares(clean + 0.01 * (c.step as f64 / 100.0)),
            learnability: 0.5 - c.step as f64 / 500.0,
        })
        .collect();
    MethodResult {
        method: method.into(),
        seed,
        filter_ratio: f,
        final_: curve.last().cloned().unwrap(),
        curve,
        ms_per_step: 100.0 + quality * 50.0,
        ms_scoring: 20.0,
        ms_sampling: 0.7,
        flops_per_step: Flops { train: 3e9, learner_scoring: 5e9, reference_scoring: 1e7, total: 8.01e9 },
        selected_noise_share: shares(clean),
        selection,
        losses: vec![5.0, 4.5, 4.25],
    }
}

fn synthetic(methods: &[(&str, f64, f64)]) -> CompareResults {
    let seeds = vec![1, 2];
    let runs: Vec<MethodResult> = seeds.iter().flat_map(|&s| methods.iter().map(move |(m, q, c)| run(m, s, 0.8, *q, *c))).collect();
    let methods_map = runs.iter().filter(|r| r.seed == 1).map(|r| (r.method.clone(), r.clone())).collect();
    let summary = methods
        .iter()
        .map(|(m, q, c)| SummaryRow {
            method: m.to_string(),
            filter_ratio: 0.8,
            seeds: 2,
            final_r1_mean: *q,
            final_r1_std: 0.004,
            r1_vs_uniform: q / 0.1,
            steps_speedup: if *m == "hard-learner" { None } else { Some(2.25) },
            flops_speedup: if *m == "hard-learner" { None } else { Some(1.5) },
            steps_speedup_whole_run: if *m == "hard-learner" { None } else { Some(3.75) },
            flops_speedup_whole_run: if *m == "hard-learner" { None } else { Some(2.5) },
            clean_share_mean: *c,
        })
        .collect();
    CompareResults {
        preset: "tiny".into(),
        seed: 1,
        seeds,
        backend: "cpu".into(),
        adapter: "CPU (rayon, 2 threads)".into(),
        filter_ratio: 0.8,
        filter_ratios: vec![0.8],
        chunks: 4,
        score_gain: 100.0,
        steps: 100,
        batch: 64,
        eval_every: 20,
        pool_noise_share: shares(0.51),
        reference_steps: 300,
        methods: methods_map,
        runs,
        summary,
        wall_seconds: 12.5,
        ..Default::default()
    }
}

const METHODS: &[(&str, f64, f64)] = &[("uniform", 0.1, 0.51), ("jest", 0.25, 0.76), ("hard-learner", 0.05, 0.4)];
const PLOTS: &[&str] = &["r1_vs_steps.svg", "r1_vs_flops.svg", "noise_vs_step.svg", "learnability_vs_step.svg", "noise_kinds.svg"];

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Values equal, numbers to 1e-12 relative (a float may lose its last bit through JSON text).
fn same(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * x.abs().max(y.abs()), "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{at}: keys");
            for (k, p) in x {
                same(p, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

/// Parse an SVG, render it with resvg (stricter about SVG than a plain XML parser), and return
/// the `data-method` of every `<g class=...>` of `class`, with its element count of `child`.
fn svg_groups(text: &str, class: &str, child: &str) -> Vec<(String, usize)> {
    assert!(!text.contains("NaN") && !text.contains("inf"), "non-finite number in the SVG");
    let tree = resvg::usvg::Tree::from_str(text, &resvg::usvg::Options::default()).expect("usvg parses the SVG");
    let size = tree.size().to_int_size();
    let mut pix = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pix.as_mut());
    let doc = roxmltree::Document::parse(text).expect("SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some(class))
        .filter_map(|g| {
            let m = g.attribute("data-method")?;
            Some((m.to_string(), g.descendants().filter(|d| d.has_tag_name(child)).count()))
        })
        .collect()
}

/// How many pixels of a plot rendered by resvg are (close to) `#rrggbb`.
fn pixels_of(text: &str, rgb: (u8, u8, u8)) -> usize {
    let tree = resvg::usvg::Tree::from_str(text, &resvg::usvg::Options::default()).unwrap();
    let size = tree.size().to_int_size();
    let mut pix = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pix.as_mut());
    pix.pixels()
        .iter()
        .filter(|p| {
            let c = p.demultiply();
            (c.red() as i32 - rgb.0 as i32).abs() < 8
                && (c.green() as i32 - rgb.1 as i32).abs() < 8
                && (c.blue() as i32 - rgb.2 as i32).abs() < 8
        })
        .count()
}

#[test]
fn report_files_json_svg_html_csv() {
    let r = synthetic(METHODS);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let written = write_report(&out, &r).unwrap();
    let mut expected: Vec<String> = vec!["results.json".into(), "index.html".into()];
    expected.extend(PLOTS.iter().map(|p| format!("plots/{p}")));
    for (m, _, _) in METHODS {
        for s in [1, 2] {
            expected.push(format!("curves/{m}_s{s}.csv"));
        }
    }
    for e in &expected {
        assert!(out.join(e).is_file(), "{e} missing");
        assert!(written.contains(&out.join(e)), "{e} not in the returned paths");
    }
    assert_eq!(written.len(), expected.len(), "{written:?}");
    assert!(written.iter().all(|p| p.is_file()));

    // results.json: round trip and documented keys
    let text = read(&out.join("results.json"));
    let back: CompareResults = serde_json::from_str(&text).unwrap();
    same(&serde_json::to_value(&back).unwrap(), &serde_json::to_value(&r).unwrap(), "results");
    assert_eq!(back.runs.len(), 6);
    assert_eq!(back.methods["jest"].curve[3].flops, r.methods["jest"].curve[3].flops);
    let v: Value = serde_json::from_str(&text).unwrap();
    for k in ["preset", "seed", "backend", "adapter", "filter_ratio", "chunks", "methods", "runs", "summary", "pool_noise_share"] {
        assert!(v.get(k).is_some(), "top-level key {k}");
    }
    assert_eq!(v["preset"], "tiny");
    assert_eq!(v["chunks"], 4);
    for (m, _, _) in METHODS {
        let mv = &v["methods"][m];
        for k in ["curve", "final", "ms_per_step", "flops_per_step", "selected_noise_share"] {
            assert!(mv.get(k).is_some(), "methods.{m}.{k}");
        }
        let curve = mv["curve"].as_array().unwrap();
        assert_eq!(curve.len(), 5);
        for row in curve {
            for k in ["step", "examples", "flops", "zero_shot_acc", "i2t_r1", "t2i_r1", "loss"] {
                assert!(row[k].is_number(), "methods.{m}.curve[].{k}");
            }
        }
        assert!(mv["final"]["i2t_r1"].is_number());
        assert!(
            (mv["selected_noise_share"]["mismatched"].as_f64().unwrap() - r.methods[*m].selected_noise_share["mismatched"]).abs() < 1e-12
        );
    }

    // SVGs: one series group with one polyline per method; bands from the two seeds
    for p in &PLOTS[..4] {
        let svg = read(&out.join("plots").join(p));
        let groups = svg_groups(&svg, "series", "polyline");
        let names: Vec<&str> = groups.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(names, ["uniform", "jest", "hard-learner"], "{p}");
        assert!(groups.iter().all(|(_, n)| *n == 1), "{p}: {groups:?}");
        assert_eq!(svg_groups(&svg, "series", "polygon").iter().map(|g| g.1).sum::<usize>(), 3, "{p}: one band per method");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let poly = doc.descendants().find(|n| n.has_tag_name("polyline")).unwrap();
        assert_eq!(poly.attribute("points").unwrap().split_whitespace().count(), 5, "{p}: a point per step");
    }
    let steps = read(&out.join("plots/r1_vs_steps.svg"));
    assert!(pixels_of(&steps, (0x1f, 0x77, 0xb4)) > 200, "jest's line is drawn in its colour");
    assert!(pixels_of(&steps, (0xd6, 0x27, 0x28)) > 200, "hard-learner's line is drawn in its colour");
    let noise = read(&out.join("plots/noise_vs_step.svg"));
    assert!(noise.contains("stroke-dasharray") && noise.contains("pool: 49% not clean"), "pool reference line");
    let kinds = read(&out.join("plots/noise_kinds.svg"));
    let bars = svg_groups(&kinds, "bar", "rect");
    assert_eq!(bars, [("uniform".to_string(), 7), ("jest".to_string(), 7), ("hard-learner".to_string(), 7)]);
    assert!(kinds.contains("data-pool=\"1\""), "the pool's bar");
    for k in KINDS {
        assert!(kinds.contains(&format!(">{k}</text>")), "legend names {k}");
    }

    // index.html
    let html = read(&out.join("index.html"));
    for (m, _, _) in METHODS {
        assert!(html.contains(&format!("<td>{m}</td>")), "{m} in the tables");
    }
    for p in PLOTS {
        assert!(html.contains(&format!("<img src=\"plots/{p}\"")), "{p} shown");
    }
    assert!(html.contains("never"), "hard-learner never reaches the target");
    assert!(html.contains("2.25×") && html.contains("25.00% ± 0.40"), "summary figures");
    assert!(html.contains("3.75× / 2.50×") && html.contains("whole run"), "whole-run speed-ups");
    assert!(html.contains("CPU (rayon, 2 threads)") && html.contains("<td>tiny</td>"));

    // CSV: header + a line per curve row, selection columns filled
    let csv = read(&out.join("curves/jest_s2.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 5);
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..3], ["step", "examples", "flops"]);
    assert!(header.contains(&"learnability") && header.contains(&"share_clean") && header.contains(&"share_slug"));
    for (i, l) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells.len(), header.len());
        let row = &r.runs.iter().find(|x| x.method == "jest" && x.seed == 2).unwrap().curve[i];
        assert_eq!(cells[0].parse::<usize>().unwrap(), row.step);
        let col = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()].parse::<f64>().unwrap();
        assert_eq!(col("r1_smoothed"), row.r1_smoothed);
        assert!((col("share_clean") - (0.76 + 0.01 * row.step as f64 / 100.0)).abs() < 1e-12);
    }
}

#[test]
fn names_are_escaped() {
    let mut r = synthetic(&[("uniform", 0.1, 0.5), ("a<&>b \"q\"", 0.2, 0.7)]);
    r.adapter = "GPU <&> 'x'".into();
    r.preset = "</title><script>".into();
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &r).unwrap();
    let html = read(&dir.path().join("index.html"));
    assert!(html.contains("a&lt;&amp;&gt;b &quot;q&quot;") && html.contains("GPU &lt;&amp;&gt; &#39;x&#39;"));
    assert!(!html.contains("a<&>b") && !html.contains("<&>") && !html.contains("<script>"));
    for p in PLOTS {
        let svg = read(&dir.path().join("plots").join(p));
        let class = if *p == "noise_kinds.svg" { "bar" } else { "series" };
        let groups = svg_groups(&svg, class, "title");
        assert!(groups.iter().any(|(m, _)| m == "a<&>b \"q\""), "{p}: {groups:?}");
    }
    // file-safe CSV names
    assert!(dir.path().join("curves/a___b__q__s1.csv").is_file());
}

#[test]
fn empty_and_degenerate_inputs() {
    // nothing at all
    let dir = tempfile::tempdir().unwrap();
    let empty = CompareResults::default();
    let written = write_report(dir.path(), &empty).unwrap();
    assert_eq!(written.len(), 2 + PLOTS.len(), "{written:?}");
    let back: CompareResults = serde_json::from_str(&read(&dir.path().join("results.json"))).unwrap();
    assert!(back.runs.is_empty() && back.methods.is_empty());
    for p in PLOTS {
        let svg = read(&dir.path().join("plots").join(p));
        assert!(svg_groups(&svg, "series", "polyline").is_empty());
        assert!(svg.contains("no data"), "{p}");
    }
    assert!(read(&dir.path().join("index.html")).contains("No runs"));

    // runs with an empty curve, a single point, and non-finite values
    let mut r = synthetic(METHODS);
    for x in r.runs.iter_mut().filter(|x| x.method == "uniform") {
        x.curve.clear();
        x.selection.clear();
        x.selected_noise_share.clear();
    }
    for x in r.runs.iter_mut().filter(|x| x.method == "jest") {
        x.curve.truncate(1);
        x.selection.truncate(1);
        x.selection[0].learnability = f64::NAN;
    }
    for x in r.runs.iter_mut().filter(|x| x.method == "hard-learner") {
        x.curve[2].r1_smoothed = f64::NAN;
        x.curve[3].flops = f64::INFINITY;
        x.ms_scoring = f64::NAN;
    }
    r.summary[0].r1_vs_uniform = f64::NAN;
    r.methods.clear();
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &r).unwrap();
    let v: Value = serde_json::from_str(&read(&dir.path().join("results.json"))).unwrap();
    assert!(v["runs"][2]["curve"][2]["r1_smoothed"].is_null(), "NaN is written as null");
    let svg = read(&dir.path().join("plots/r1_vs_steps.svg"));
    let groups = svg_groups(&svg, "series", "circle");
    assert_eq!(groups, [("uniform".into(), 0), ("jest".into(), 1), ("hard-learner".into(), 4)], "NaN point skipped");
    let flops = read(&dir.path().join("plots/r1_vs_flops.svg"));
    assert_eq!(svg_groups(&flops, "series", "circle")[2].1, 3, "NaN and inf points skipped");
    // a method without selection data has no line in the selection plots
    let learn = read(&dir.path().join("plots/learnability_vs_step.svg"));
    assert_eq!(svg_groups(&learn, "series", "polyline").iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), ["hard-learner"]);
    let kinds = read(&dir.path().join("plots/noise_kinds.svg"));
    assert_eq!(svg_groups(&kinds, "bar", "rect").len(), 2);
    let csv = read(&dir.path().join("curves/uniform_s1.csv"));
    assert_eq!(csv.lines().count(), 1);
    let csv = read(&dir.path().join("curves/hard-learner_s2.csv"));
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.lines().nth(3).unwrap().contains(",NaN,") && csv.lines().nth(4).unwrap().split(',').nth(2) == Some("inf"));
    let html = read(&dir.path().join("index.html"));
    assert!(html.contains("<td>–</td>"), "non-finite shown as a dash");
    if let Ok(d) = std::env::var("REPORT_KEEP") {
        write_report(&Path::new(&d).join("degenerate"), &r).unwrap();
        write_report(&Path::new(&d).join("full"), &synthetic(METHODS)).unwrap();
    }
}

/// A report written into the folder of an earlier one with more seeds replaces it: no curve of
/// the earlier seeds is left behind to be mistaken for this run's, and other files stay.
#[test]
fn rewriting_a_report_leaves_no_stale_curves() {
    let dir = tempfile::tempdir().unwrap();
    let two = synthetic(METHODS);
    write_report(dir.path(), &two).unwrap();
    let csvs = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d.join("curves")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        v.sort();
        v
    };
    assert!(csvs(dir.path()).iter().any(|n| n.ends_with("_s2.csv")), "{:?}", csvs(dir.path()));
    // files of the user's own, even ones that look like a report's, stay
    let own = ["curves/my notes.txt", "curves/jest-notes.csv", "curves/uniform_final.csv", "plots/my_figure.svg"];
    for f in own {
        std::fs::write(dir.path().join(f), "mine").unwrap();
    }
    let mut one = two.clone();
    one.runs.retain(|r| r.seed == 1);
    one.seeds = vec![1];
    let written = write_report(dir.path(), &one).unwrap();
    let left = csvs(dir.path());
    assert!(left.iter().all(|n| !n.ends_with("_s2.csv")), "{left:?}");
    let new: Vec<String> = written.iter().filter(|p| p.parent().unwrap().ends_with("curves")).map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
    assert_eq!(left.iter().filter(|n| n.ends_with(".csv")).count(), new.len() + 2, "{left:?} vs {new:?}");
    for f in own {
        assert!(dir.path().join(f).is_file(), "{f}, a file no report writes, was removed");
    }
    println!("curves after rewriting with one seed: {left:?}");
}
