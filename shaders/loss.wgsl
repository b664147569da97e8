// loss.wgsl — sigmoid (SigLIP) contrastive loss on a b×b similarity matrix.
// logit = exp(t′)·sims + β, z = +1 on the diagonal, −1 off it; x = −z·logit;
// L = softplus(x), g = −z·σ(x) (= b·∂ℓ/∂logit).

struct Params { b: u32, _p0: u32, _p1: u32, _p2: u32 };

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;

// log(1 + eˣ) without overflow
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// 1/(1 + e^−x) on the side where exp cannot overflow
fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// ---- per pair: lmat = softplus(x), dsims = exp(t′)·g/b ----
// index k = i·b + j = gid.x + gid.y · nwg.x · 256
@group(0) @binding(1) var<storage, read_write> le_lmat: array<f32>;  // [b,b]
@group(0) @binding(2) var<storage, read_write> le_dsims: array<f32>; // [b,b]
@group(0) @binding(3) var<storage, read> le_sims: array<f32>;        // [b,b]
@group(0) @binding(4) var<storage, read> le_tb: array<f32>;          // [2] = [t′, β]

@compute @workgroup_size(256)
fn siglip_pairs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = gid.x + gid.y * nwg.x * WG;
    if (k >= p.b * p.b) { return; }
    let et = exp(le_tb[0]);
    var z = -1.0;
    if (k / p.b == k % p.b) { z = 1.0; }
    let x = -z * (et * le_sims[k] + le_tb[1]);
    le_lmat[k] = softplus(x);
    le_dsims[k] = et * (-z * sigmoid(x)) / f32(p.b);
}

// ---- reduction (one workgroup): stats = [Σ L / b, Σ g·exp(t′)·sims / b, Σ g / b] ----
// thread l sums pairs l, l+256, …; then a fixed shared-memory tree (deterministic).
@group(0) @binding(1) var<storage, read_write> lr_stats: array<f32>; // [3]
@group(0) @binding(2) var<storage, read> lr_sims: array<f32>;        // [b,b]
@group(0) @binding(3) var<storage, read> lr_tb: array<f32>;          // [2]

var<workgroup> sh_l: array<f32, 256>;
var<workgroup> sh_t: array<f32, 256>;
var<workgroup> sh_b: array<f32, 256>;

@compute @workgroup_size(256)
fn siglip_reduce(@builtin(local_invocation_index) lid: u32) {
    let et = exp(lr_tb[0]);
    let beta = lr_tb[1];
    let nn = p.b * p.b;
    var sl = 0.0;
    var st = 0.0;
    var sb = 0.0;
    for (var k = lid; k < nn; k += WG) {
        var z = -1.0;
        if (k / p.b == k % p.b) { z = 1.0; }
        let s = lr_sims[k];
        let x = -z * (et * s + beta);
        let g = -z * sigmoid(x);
        sl += softplus(x);
        st += g * et * s;
        sb += g;
    }
    sh_l[lid] = sl;
    sh_t[lid] = st;
    sh_b[lid] = sb;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            sh_l[lid] += sh_l[lid + w];
            sh_t[lid] += sh_t[lid + w];
            sh_b[lid] += sh_b[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let inv_b = 1.0 / f32(p.b);
        lr_stats[0] = sh_l[0] * inv_b;
        lr_stats[1] = sh_t[0] * inv_b;
        lr_stats[2] = sh_b[0] * inv_b;
    }
}
