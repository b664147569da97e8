// optim.wgsl — global gradient norm² (sumsq; one workgroup, or partials over many then their
// sum) and AdamW with clipping and warm-up + cosine lr.

// AdamHp (48 bytes, `backend::AdamHp`) followed by the element count.
struct Params {
    base_lr: f32,
    min_lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    clip: f32,
    step: u32,
    warmup: u32,
    total: u32,
    _h0: u32,
    _h1: u32,
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const PI: f32 = 3.141592653589793;

// ---- sumsq: acc[0] += Σ x² (one workgroup, strided partials then a fixed tree) ----
@group(0) @binding(1) var<storage, read_write> ss_acc: array<f32>; // [≥1]
@group(0) @binding(2) var<storage, read> ss_x: array<f32>;         // [n]

var<workgroup> sh: array<f32, 256>;

// Σ of every invocation's s over the workgroup, by a fixed tree (the same order every run);
// call from uniform control flow.
fn workgroup_sum(lid: u32, s: f32) -> f32 {
    sh[lid] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            sh[lid] += sh[lid + w];
        }
        workgroupBarrier();
    }
    return sh[0];
}

@compute @workgroup_size(256)
fn sumsq(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        let v = ss_x[i];
        s += v * v;
    }
    let total = workgroup_sum(lid, s);
    if (lid == 0u) {
        ss_acc[0] = ss_acc[0] + total;
    }
}

// ---- sumsq over many workgroups (a flat buffer of every gradient), in two passes ----
// sumsq_partial: acc[w] = Σ_{k ≥ 0} x[(w + k·G)·256 + l]², summed over l < 256, for each of the
// G = nwg.x workgroups w (grid-stride, then the same fixed tree) — into G partial sums;
// sum_into: acc[0] += Σ_{i < n} x[i] (one workgroup) adds them up.
@compute @workgroup_size(256)
fn sumsq_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    var s = 0.0;
    for (var i = wg.x * WG + lid; i < p.n; i += nwg.x * WG) {
        let v = ss_x[i];
        s += v * v;
    }
    let total = workgroup_sum(lid, s);
    if (lid == 0u) {
        ss_acc[wg.x] = total;
    }
}

// sum_into: acc[0] += Σ_{i < n} x[i]
@compute @workgroup_size(256)
fn sum_into(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        s += ss_x[i];
    }
    let total = workgroup_sum(lid, s);
    if (lid == 0u) {
        ss_acc[0] = ss_acc[0] + total;
    }
}

// lr at p.step: base·step/warmup for step ≤ warmup (if warmup > 0); then min + ½(base − min)(1 + cos(π·q)),
// q = clamp((step − warmup)/(total − warmup), 0, 1)  (q = 1 when total ≤ warmup)
fn schedule_lr() -> f32 {
    let step = f32(p.step);
    if (p.warmup > 0u && p.step <= p.warmup) {
        return p.base_lr * step / f32(p.warmup);
    }
    var q = 1.0;
    if (p.total > p.warmup) {
        q = clamp((step - f32(p.warmup)) / f32(p.total - p.warmup), 0.0, 1.0);
    }
    return p.min_lr + 0.5 * (p.base_lr - p.min_lr) * (1.0 + cos(PI * q));
}

// ---- adamw ----
// g = grad·min(1, clip/(sqrt(gnorm2)+1e-6)) (no clipping when clip ≤ 0);
// m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
// param −= lr·( m/(1−β1^step) / (sqrt(v/(1−β2^step)) + eps) + wd·param )
// index i = gid.x + gid.y · nwg.x · 256
@group(0) @binding(1) var<storage, read_write> ad_param: array<f32>; // [n]
@group(0) @binding(2) var<storage, read> ad_grad: array<f32>;        // [n]
@group(0) @binding(3) var<storage, read_write> ad_m: array<f32>;     // [n]
@group(0) @binding(4) var<storage, read_write> ad_v: array<f32>;     // [n]
@group(0) @binding(5) var<storage, read> ad_gnorm2: array<f32>;      // [≥1]

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    var scale = 1.0;
    if (p.clip > 0.0) {
        scale = min(1.0, p.clip / (sqrt(ad_gnorm2[0]) + 1e-6));
    }
    let lr = schedule_lr();
    let step = f32(p.step);
    let bc1 = 1.0 - pow(p.beta1, step);
    let bc2 = 1.0 - pow(p.beta2, step);
    let g = ad_grad[i] * scale;
    let m = p.beta1 * ad_m[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * ad_v[i] + (1.0 - p.beta2) * g * g;
    ad_m[i] = m;
    ad_v[i] = v;
    let w = ad_param[i];
    ad_param[i] = w - lr * ((m / bc1) / (sqrt(v / bc2) + p.eps) + p.weight_decay * w);
}
