// norm.wgsl — LayerNorm and L2 normalisation over the last axis of row-major [rows, cols], forward and backward.
// Row kernels run one invocation per row (64 rows per workgroup, row index folded into x·y as in
// elementwise.wgsl); the LayerNorm weight/bias gradients run one workgroup per column, which sums
// its rows in a fixed tree order (deterministic, no atomics).

struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 };

@group(0) @binding(0) var<uniform> p: Params;

const LN_EPS: f32 = 1e-5;
const L2_EPS: f32 = 1e-12;

fn row_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// ---- layernorm_fwd ----
// μ_r = (1/C) Σ_c x[r,c];  σ²_r = (1/C) Σ_c (x[r,c] − μ_r)²;  rstd_r = 1/sqrt(σ²_r + 1e-5)
// out[r,c] = (x[r,c] − μ_r)·rstd_r·w[c] + b[c];  mean[r] = μ_r;  rstd[r] = rstd_r
@group(0) @binding(1) var<storage, read_write> lf_out: array<f32>;   // [rows, cols]
@group(0) @binding(2) var<storage, read_write> lf_mean: array<f32>;  // [rows]
@group(0) @binding(3) var<storage, read_write> lf_rstd: array<f32>;  // [rows]
@group(0) @binding(4) var<storage, read> lf_x: array<f32>;           // [rows, cols]
@group(0) @binding(5) var<storage, read> lf_w: array<f32>;           // [cols]
@group(0) @binding(6) var<storage, read> lf_b: array<f32>;           // [cols]

@compute @workgroup_size(64)
fn layernorm_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var s = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        s = s + lf_x[base + c];
    }
    let mu = s / f32(p.cols);
    var v = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        let d = lf_x[base + c] - mu;
        v = v + d * d;
    }
    let rs = 1.0 / sqrt(v / f32(p.cols) + LN_EPS);
    for (var c = 0u; c < p.cols; c = c + 1u) {
        lf_out[base + c] = (lf_x[base + c] - mu) * rs * lf_w[c] + lf_b[c];
    }
    lf_mean[r] = mu;
    lf_rstd[r] = rs;
}

// ---- layernorm_bwd_dx ----
// x̂ = (x − μ)·rstd;  g = dy·w;  dx[r,c] += rstd·(g[c] − mean_c(g) − x̂[c]·mean_c(g·x̂))
@group(0) @binding(1) var<storage, read_write> lb_dx: array<f32>;    // [rows, cols]
@group(0) @binding(2) var<storage, read> lb_dy: array<f32>;          // [rows, cols]
@group(0) @binding(3) var<storage, read> lb_x: array<f32>;           // [rows, cols]
@group(0) @binding(4) var<storage, read> lb_mean: array<f32>;        // [rows]
@group(0) @binding(5) var<storage, read> lb_rstd: array<f32>;        // [rows]
@group(0) @binding(6) var<storage, read> lb_w: array<f32>;           // [cols]

@compute @workgroup_size(64)
fn layernorm_bwd_dx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    let mu = lb_mean[r];
    let rs = lb_rstd[r];
    var sg = 0.0;
    var sgx = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        let xh = (lb_x[base + c] - mu) * rs;
        let g = lb_dy[base + c] * lb_w[c];
        sg = sg + g;
        sgx = sgx + g * xh;
    }
    let mg = sg / f32(p.cols);
    let mgx = sgx / f32(p.cols);
    for (var c = 0u; c < p.cols; c = c + 1u) {
        let xh = (lb_x[base + c] - mu) * rs;
        let g = lb_dy[base + c] * lb_w[c];
        lb_dx[base + c] = lb_dx[base + c] + rs * (g - mg - xh * mgx);
    }
}

// ---- layernorm_bwd_wb ----
// dw[c] += Σ_r dy[r,c]·x̂[r,c];  db[c] += Σ_r dy[r,c]
// One workgroup per column c (index folded into x·y); its 64 invocations take rows lid, lid+64, …
// and are summed by a fixed binary tree.
@group(0) @binding(1) var<storage, read_write> lw_dw: array<f32>;    // [cols]
@group(0) @binding(2) var<storage, read_write> lw_db: array<f32>;    // [cols]
@group(0) @binding(3) var<storage, read> lw_dy: array<f32>;          // [rows, cols]
@group(0) @binding(4) var<storage, read> lw_x: array<f32>;           // [rows, cols]
@group(0) @binding(5) var<storage, read> lw_mean: array<f32>;        // [rows]
@group(0) @binding(6) var<storage, read> lw_rstd: array<f32>;        // [rows]

var<workgroup> red: array<vec2<f32>, 64>;

@compute @workgroup_size(64)
fn layernorm_bwd_wb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.cols) { return; }   // uniform across the workgroup
    var acc = vec2<f32>(0.0, 0.0);  // (Σ dy·x̂, Σ dy)
    for (var r = lid; r < p.rows; r = r + 64u) {
        let dy = lw_dy[r * p.cols + c];
        let xh = (lw_x[r * p.cols + c] - lw_mean[r]) * lw_rstd[r];
        acc = acc + vec2<f32>(dy * xh, dy);
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let t = red[0];
        lw_dw[c] = lw_dw[c] + t.x;
        lw_db[c] = lw_db[c] + t.y;
    }
}

// ---- l2norm_fwd ----
// n_r = sqrt(Σ_c x[r,c]² + 1e-12);  out[r,c] = x[r,c] / n_r;  norm[r] = n_r
@group(0) @binding(1) var<storage, read_write> nf_out: array<f32>;   // [rows, cols]
@group(0) @binding(2) var<storage, read_write> nf_norm: array<f32>;  // [rows]
@group(0) @binding(3) var<storage, read> nf_x: array<f32>;           // [rows, cols]

@compute @workgroup_size(64)
fn l2norm_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var s = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        let v = nf_x[base + c];
        s = s + v * v;
    }
    let n = sqrt(s + L2_EPS);
    for (var c = 0u; c < p.cols; c = c + 1u) {
        nf_out[base + c] = nf_x[base + c] / n;
    }
    nf_norm[r] = n;
}

// ---- l2norm_bwd ----
// dx[r,c] += (dout[r,c] − out[r,c]·Σ_k out[r,k]·dout[r,k]) / n_r
@group(0) @binding(1) var<storage, read_write> nb_dx: array<f32>;    // [rows, cols]
@group(0) @binding(2) var<storage, read> nb_dout: array<f32>;        // [rows, cols]
@group(0) @binding(3) var<storage, read> nb_out: array<f32>;         // [rows, cols]
@group(0) @binding(4) var<storage, read> nb_norm: array<f32>;        // [rows]

@compute @workgroup_size(64)
fn l2norm_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row_index(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var s = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        s = s + nb_out[base + c] * nb_dout[base + c];
    }
    let n = nb_norm[r];
    for (var c = 0u; c < p.cols; c = c + 1u) {
        nb_dx[base + c] = nb_dx[base + c] + (nb_dout[base + c] - nb_out[base + c] * s) / n;
    }
}
