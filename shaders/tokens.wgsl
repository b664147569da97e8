// tokens.wgsl — token embedding, image patchify / 2×2 downsampling, positional add, masked mean pooling.
// One invocation per output element, 256 per workgroup; the linear index is
// i = gid.x + gid.y * nwg.x * 256 (dispatches fold large counts into x·y, as in elementwise.wgsl).
// Every reduction (embed_bwd, add_pos_bwd, mean_pool_fwd) is a loop owned by one invocation, in a
// fixed order: deterministic, no atomics.

// Meaning of a, b, c per entry point is given in its comment.
struct Params { a: u32, b: u32, c: u32, _pad: u32 };

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// ---- embed_fwd: out[i,ch] = table[tokens[i], ch]      (a = n_tok, b = c) ----
@group(0) @binding(1) var<storage, read_write> ef_out: array<f32>;  // [n_tok, c]
@group(0) @binding(2) var<storage, read> ef_tokens: array<u32>;     // [n_tok]
@group(0) @binding(3) var<storage, read> ef_table: array<f32>;      // [vocab, c]

@compute @workgroup_size(256)
fn embed_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.a * p.b) { return; }
    let tok = i / p.b;
    let ch = i % p.b;
    ef_out[i] = ef_table[ef_tokens[tok] * p.b + ch];
}

// ---- embed_bwd: dtable[v,ch] += Σ_{i: tokens[i] = v} dout[i,ch]   (a = n_tok, b = c, c = vocab) ----
// One invocation per (v, ch) scans the tokens in order (neighbouring invocations read the same
// token word, so the scan is a broadcast read).
@group(0) @binding(1) var<storage, read_write> eb_dtable: array<f32>; // [vocab, c]
@group(0) @binding(2) var<storage, read> eb_tokens: array<u32>;       // [n_tok]
@group(0) @binding(3) var<storage, read> eb_dout: array<f32>;         // [n_tok, c]

@compute @workgroup_size(256)
fn embed_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = index(gid, nwg);
    if (j >= p.c * p.b) { return; }
    let v = j / p.b;
    let ch = j % p.b;
    var s = 0.0;
    for (var i = 0u; i < p.a; i = i + 1u) {
        if (eb_tokens[i] == v) {
            s = s + eb_dout[i * p.b + ch];
        }
    }
    eb_dtable[j] = eb_dtable[j] + s;
}

// ---- patchify: out[img, gy·(s/p)+gx, (py·p+px)·3+ch] = images[img, gy·p+py, gx·p+px, ch]
//      (a = n, b = s, c = p) ----
@group(0) @binding(1) var<storage, read_write> pf_out: array<f32>;  // [n, (s/p)², p·p·3]
@group(0) @binding(2) var<storage, read> pf_images: array<f32>;     // [n, s, s, 3]

@compute @workgroup_size(256)
fn patchify(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = index(gid, nwg);
    let s = p.b;
    let ps = p.c;
    let g = s / ps;                 // patches per side
    let pp3 = ps * ps * 3u;         // patch vector length
    let per_img = g * g * pp3;
    if (o >= p.a * per_img) { return; }
    let img = o / per_img;
    let r = o % per_img;
    let pi = r / pp3;          // patch index
    let k = r % pp3;
    let py = k / (ps * 3u);
    let px = (k / 3u) % ps;
    let ch = k % 3u;
    let y = (pi / g) * ps + py;
    let x = (pi % g) * ps + px;
    pf_out[o] = pf_images[((img * s + y) * s + x) * 3u + ch];
}

// ---- downsample2x: out[img,y,x,ch] = ¼ Σ_{dy,dx ∈ {0,1}} images[img, 2y+dy, 2x+dx, ch]
//      (a = n, b = s) ----
@group(0) @binding(1) var<storage, read_write> ds_out: array<f32>;  // [n, s/2, s/2, 3]
@group(0) @binding(2) var<storage, read> ds_images: array<f32>;     // [n, s, s, 3]

@compute @workgroup_size(256)
fn downsample2x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = index(gid, nwg);
    let s = p.b;
    let h = s / 2u;
    if (o >= p.a * h * h * 3u) { return; }
    let ch = o % 3u;
    let x = (o / 3u) % h;
    let y = (o / (3u * h)) % h;
    let img = o / (3u * h * h);
    let i00 = ((img * s + 2u * y) * s + 2u * x) * 3u + ch;
    let i10 = i00 + s * 3u;
    let sum = (ds_images[i00] + ds_images[i00 + 3u]) + (ds_images[i10] + ds_images[i10 + 3u]);
    ds_out[o] = 0.25 * sum;
}

// ---- add_pos_fwd: x[i,t,ch] += pos[t,ch]      (a = n, b = t, c = c) ----
@group(0) @binding(1) var<storage, read_write> pa_x: array<f32>;    // [n, t, c]
@group(0) @binding(2) var<storage, read> pa_pos: array<f32>;        // [t, c]

@compute @workgroup_size(256)
fn add_pos_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    let tc = p.b * p.c;
    if (i >= p.a * tc) { return; }
    pa_x[i] = pa_x[i] + pa_pos[i % tc];
}

// ---- add_pos_bwd: dpos[t,ch] += Σ_i dx[i,t,ch]      (a = n, b = t, c = c) ----
@group(0) @binding(1) var<storage, read_write> pb_dpos: array<f32>; // [t, c]
@group(0) @binding(2) var<storage, read> pb_dx: array<f32>;         // [n, t, c]

@compute @workgroup_size(256)
fn add_pos_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = index(gid, nwg);
    let tc = p.b * p.c;
    if (j >= tc) { return; }
    var s = 0.0;
    for (var i = 0u; i < p.a; i = i + 1u) {
        s = s + pb_dx[i * tc + j];
    }
    pb_dpos[j] = pb_dpos[j] + s;
}

// ---- mean_pool_fwd: out[i,ch] = (1/L_i) Σ_{τ<L_i} x[i,τ,ch],  L_i = min(lens[i], t)
//      (a = n, b = t, c = c) ----
@group(0) @binding(1) var<storage, read_write> mf_out: array<f32>;  // [n, c]
@group(0) @binding(2) var<storage, read> mf_x: array<f32>;          // [n, t, c]
@group(0) @binding(3) var<storage, read> mf_lens: array<u32>;       // [n]

@compute @workgroup_size(256)
fn mean_pool_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = index(gid, nwg);
    if (o >= p.a * p.c) { return; }
    let i = o / p.c;
    let ch = o % p.c;
    let len = min(mf_lens[i], p.b);
    var s = 0.0;
    for (var tau = 0u; tau < len; tau = tau + 1u) {
        s = s + mf_x[(i * p.b + tau) * p.c + ch];
    }
    mf_out[o] = s / f32(max(len, 1u));
}

// ---- mean_pool_bwd: dx[i,τ,ch] += dout[i,ch] / L_i  for τ < L_i = min(lens[i], t)
//      (a = n, b = t, c = c) ----
@group(0) @binding(1) var<storage, read_write> mb_dx: array<f32>;   // [n, t, c]
@group(0) @binding(2) var<storage, read> mb_dout: array<f32>;       // [n, c]
@group(0) @binding(3) var<storage, read> mb_lens: array<u32>;       // [n]

@compute @workgroup_size(256)
fn mean_pool_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = index(gid, nwg);
    if (o >= p.a * p.b * p.c) { return; }
    let ch = o % p.c;
    let tau = (o / p.c) % p.b;
    let i = o / (p.b * p.c);
    let len = min(mb_lens[i], p.b);
    if (tau >= len) { return; }
    mb_dx[o] = mb_dx[o] + mb_dout[i * p.c + ch] / f32(len);
}

// ---- pos_pool2x_fwd: low-resolution positional table (Flexi-JEST) ----
// The g×g grid of positions [g·g, c] averaged over 2×2 cells → [(g/2)², c]:
//   out[(Y, X), k] = ¼ Σ_{dy,dx ∈ {0,1}} pos[(2Y+dy)·g + 2X+dx, k].     p.a = g, p.b = c
@group(0) @binding(1) var<storage, read_write> qf_out: array<f32>;  // [(g/2)², c]
@group(0) @binding(2) var<storage, read> qf_pos: array<f32>;        // [g·g, c]

@compute @workgroup_size(256)
fn pos_pool2x_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    let g = p.a;
    let c = p.b;
    let h = g / 2u;
    if (i >= h * h * c) { return; }
    let k = i % c;
    let cell = i / c;
    let y = cell / h;
    let x = cell % h;
    let r0 = (2u * y) * g + 2u * x;
    let r1 = r0 + g;
    qf_out[i] = 0.25 * (qf_pos[r0 * c + k] + qf_pos[(r0 + 1u) * c + k] + qf_pos[r1 * c + k] + qf_pos[(r1 + 1u) * c + k]);
}

// ---- pos_pool2x_bwd: dpos[(y, x), k] += ¼ dlow[(y/2, x/2), k]     p.a = g, p.b = c ----
@group(0) @binding(1) var<storage, read_write> qb_dpos: array<f32>; // [g·g, c]
@group(0) @binding(2) var<storage, read> qb_dlow: array<f32>;       // [(g/2)², c]

@compute @workgroup_size(256)
fn pos_pool2x_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    let g = p.a;
    let c = p.b;
    if (i >= g * g * c) { return; }
    let k = i % c;
    let cell = i / c;
    let y = cell / g;
    let x = cell % g;
    let h = g / 2u;
    if (y >= 2u * h || x >= 2u * h) { return; } // odd g: the last row/column is not pooled
    qb_dpos[i] = qb_dpos[i] + 0.25 * qb_dlow[((y / 2u) * h + x / 2u) * c + k];
}
