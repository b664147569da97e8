// elementwise.wgsl — fill, add_inplace, GELU forward/backward over flat [n] buffers.
// Linear index i = gid.x + gid.y * nwg.x * 256 (dispatches fold large n into x·y).

struct Params { n: u32, value: f32, _p0: u32, _p1: u32 };

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// ---- fill: x[i] = value ----
@group(0) @binding(1) var<storage, read_write> fill_x: array<f32>;

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    fill_x[i] = p.value;
}

// ---- add_inplace: dst += src ----
@group(0) @binding(1) var<storage, read_write> acc_dst: array<f32>;
@group(0) @binding(2) var<storage, read> acc_src: array<f32>;

@compute @workgroup_size(256)
fn add_inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    acc_dst[i] = acc_dst[i] + acc_src[i];
}

// ---- GELU (tanh approximation) ----
// gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/π) (x + 0.044715 x³)
// gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 − tanh² u) sqrt(2/π) (1 + 3·0.044715 x²)
const GELU_K: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

// tanh that does not overflow for large |u| on every backend
fn safe_tanh(u: f32) -> f32 {
    let uc = clamp(u, -15.0, 15.0);
    let e = exp(2.0 * uc);
    return (e - 1.0) / (e + 1.0);
}

@group(0) @binding(1) var<storage, read_write> gelu_out: array<f32>;
@group(0) @binding(2) var<storage, read> gelu_x: array<f32>;

@compute @workgroup_size(256)
fn gelu_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let x = gelu_x[i];
    let th = safe_tanh(GELU_K * (x + GELU_C * x * x * x));
    gelu_out[i] = 0.5 * x * (1.0 + th);
}

@group(0) @binding(1) var<storage, read_write> gb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> gb_x: array<f32>;
@group(0) @binding(3) var<storage, read> gb_dy: array<f32>;

@compute @workgroup_size(256)
fn gelu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.n) { return; }
    let x = gb_x[i];
    let th = safe_tanh(GELU_K * (x + GELU_C * x * x * x));
    let d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
    gb_dx[i] = gb_dx[i] + gb_dy[i] * d;
}
