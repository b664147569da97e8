//! Every WGSL program: naga parses and validates it without an adapter and translates it to
//! SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL (GL) — and invalid WGSL is rejected
//! with a message naming the file and line, both by naga and by the GPU backend.
mod common;

use jest_wgpu::gpu::{all_shaders, Shader};
use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

/// Parse + validate, with errors rendered against the file name (file:line:column).
fn validate(name: &str, source: &str) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, name))?;
    let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(source, name))?;
    Ok((module, info))
}

#[test]
fn every_shader_validates_and_translates_to_all_native_languages() {
    let shaders = all_shaders();
    // every program in shaders/ is checked: each file but the `*_core.wgsl` libraries, once
    let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".wgsl") && !f.ends_with("_core.wgsl"))
        .collect();
    files.sort();
    let mut names: Vec<String> = shaders.iter().map(|s| s.name.to_string()).collect();
    names.sort();
    assert_eq!(names, files, "all_shaders() must list every program in shaders/ once");
    for Shader { name, source } in shaders {
        let (module, info) = validate(name, source).unwrap_or_else(|e| panic!("{e}"));
        spv::write_vec(&module, &info, &spv::Options::default(), None).unwrap_or_else(|e| panic!("{name} → SPIR-V: {e:?}"));
        let msl_opts = msl::Options { fake_missing_bindings: true, ..Default::default() };
        msl::write_string(&module, &info, &msl_opts, &Default::default()).unwrap_or_else(|e| panic!("{name} → MSL: {e:?}"));
        let mut h = String::new();
        hlsl::Writer::new(&mut h, &Default::default(), &Default::default())
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{name} → HLSL: {e:?}"));
        for ep in &module.entry_points {
            assert!(ep.workgroup_size.iter().product::<u32>() <= 256, "{name}::{}: workgroup over the browser's 256", ep.name);
            let mut g = String::new();
            let popts = glsl::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: ep.name.clone(), multiview: None };
            glsl::Writer::new(&mut g, &module, &info, &glsl::Options::default(), &popts, Default::default())
                .and_then(|mut w| w.write())
                .unwrap_or_else(|e| panic!("{name}::{} → GLSL: {e:?}", ep.name));
        }
        println!("{name}: {} entry points → SPIR-V, MSL, HLSL, GLSL ok", module.entry_points.len());
    }
}

const BROKEN: &str = "// a broken kernel\n@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n\n@compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) g: vec3<u32>) {\n    x[g.x] = undefined_thing * 2.0;\n}\n";

#[test]
fn invalid_wgsl_is_rejected_naming_file_and_line() {
    let err = validate("broken.wgsl", BROKEN).expect_err("invalid WGSL must be rejected");
    println!("{err}");
    assert!(err.contains("broken.wgsl:6:"), "message must name file and line: {err}");
    assert!(err.contains("undefined_thing"), "message must name the culprit: {err}");
}

#[test]
fn gpu_backend_reports_shader_errors_with_kernel_name() {
    let Some(g) = common::gpu("gpu_backend_reports_shader_errors_with_kernel_name") else { return };
    let bad = Shader { name: "broken.wgsl", source: BROKEN };
    let err = g.ctx.pipeline(&bad, "main").expect_err("compiling broken WGSL must fail").to_string();
    println!("{err}");
    assert!(err.contains("broken.wgsl") && err.contains("main"), "{err}");
    assert!(err.contains("undefined_thing"), "{err}");
}
