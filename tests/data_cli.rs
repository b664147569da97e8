//! `data info` / `data preview` through the library entry point, and the split / noise-kind names.

use jest_wgpu::data::cli::{run, DataCmd};
use jest_wgpu::data::{describe, load_builtin, NoiseKind, SplitName};

#[test]
fn names_round_trip() {
    for s in SplitName::ALL {
        assert_eq!(s.to_string().parse::<SplitName>().unwrap(), s);
    }
    assert!(format!("{:#}", "train".parse::<SplitName>().unwrap_err()).contains("curated, pool or test"));
    for k in NoiseKind::ALL {
        assert_eq!(k.as_str().parse::<NoiseKind>().unwrap(), k);
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
    }
}

#[test]
fn info_and_preview() {
    run(DataCmd::Info { split: Some("test".into()), skip_bad: false, samples: 3 }).unwrap();
    let text = describe(&load_builtin(SplitName::Pool).unwrap(), 2);
    assert!(text.contains("mismatched") && text.contains("builtin/pool"), "{text}");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sheet.png");
    run(DataCmd::Preview { split: "pool".into(), out: out.clone(), count: 16, columns: 4, noise: Some("mismatched".into()), seed: 1, skip_bad: false }).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 1000);
    let msg = format!("{:#}", run(DataCmd::Preview { split: "pool".into(), out, count: 4, columns: 2, noise: Some("loud".into()), seed: 0, skip_bad: false }).unwrap_err());
    assert!(msg.contains("unknown noise kind"), "{msg}");
    let msg = format!("{:#}", run(DataCmd::Info { split: Some(tmp.path().join("absent").display().to_string()), skip_bad: false, samples: 1 }).unwrap_err());
    assert!(msg.contains("does not exist"), "{msg}");
}
