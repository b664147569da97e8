// tokens.wgsl — token embedding, image patchify / area resampling, positional add, masked mean pooling.
// One invocation per output element, 256 per workgroup; the linear index is
// i = gid.x + gid.y * nwg.x * 256 (dispatches fold large counts into x·y, as in elementwise.wgsl).
// Every reduction (embed_bwd, add_pos_bwd, mean_pool_fwd) is a loop owned by one invocation, in a
// fixed order: deterministic, no atomics.

// Meaning of a, b, c, d per entry point is given in its comment.
struct Params { a: u32, b: u32, c: u32, d: u32 };

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

// ---- embed_bwd, in three passes: index the tokens by vocabulary row, then sum per row ----
// idx = [start[0..=vocab] | order[0..n_tok)]: start[v] = #{j : tokens[j] < v}; order lists the
// positions of tokens equal to v, ascending, at start[v]..start[v+1]. Then one invocation per
// (v, ch) sums only its own rows: O(n_tok·c) for the sums and O(vocab·n_tok + n_tok²) word
// compares for the index, where a scan of every token per (v, ch) was O(vocab·n_tok·c) — and it
// adds them in the same (ascending) order, so the sums are the same. Tokens ≥ vocab get no slot
// (the order's last words are then left as they were, and never read).
@group(0) @binding(1) var<storage, read_write> ei_idx: array<u32>;   // [vocab + 1 + n_tok]
@group(0) @binding(2) var<storage, read> ei_tokens: array<u32>;      // [n_tok]

// embed_bwd_start: idx[v] = #{j : tokens[j] < v} for v ≤ vocab    (a = n_tok, c = vocab)
@compute @workgroup_size(256)
fn embed_bwd_start(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let v = index(gid, nwg);
    if (v > p.c) { return; }
    var n = 0u;
    for (var j = 0u; j < p.a; j = j + 1u) {
        n = n + select(0u, 1u, ei_tokens[j] < v);
    }
    ei_idx[v] = n;
}

// embed_bwd_order: idx[vocab + 1 + start[t] + #{j < i : tokens[j] = t}] = i, t = tokens[i] < vocab
//   (a = n_tok, c = vocab)
@compute @workgroup_size(256)
fn embed_bwd_order(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.a) { return; }
    let t = ei_tokens[i];
    if (t >= p.c) { return; }
    var r = 0u;
    for (var j = 0u; j < i; j = j + 1u) {
        r = r + select(0u, 1u, ei_tokens[j] == t);
    }
    ei_idx[p.c + 1u + ei_idx[t] + r] = i;
}

// embed_bwd: dtable[v,ch] += Σ_{i: tokens[i] = v} dout[i,ch], over the index above
//   (a = n_tok, b = c, c = vocab)
@group(0) @binding(1) var<storage, read_write> eb_dtable: array<f32>; // [vocab, c]
@group(0) @binding(2) var<storage, read> eb_idx: array<u32>;          // [vocab + 1 + n_tok]
@group(0) @binding(3) var<storage, read> eb_dout: array<f32>;         // [n_tok, c]

@compute @workgroup_size(256)
fn embed_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = index(gid, nwg);
    if (j >= p.c * p.b) { return; }
    let v = j / p.b;
    let ch = j % p.b;
    var s = 0.0;
    for (var k = eb_idx[v]; k < eb_idx[v + 1u]; k = k + 1u) {
        s = s + eb_dout[eb_idx[p.c + 1u + k] * p.b + ch];
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

// ---- area resampling of square grids (Flexi-JEST's low resolution)   (a = n, b = s_in, c = s_out, d = ch)
// Output cell y covers [y·r, (y+1)·r) of the input, r = s_in/s_out; input cell u weighs
//   w(y, u) = |[u, u+1) ∩ [y·r, (y+1)·r)| / r.
// In units of 1/(s_in·s_out) pixel the overlaps are integers: cell u spans [u·s_out, (u+1)·s_out),
// cell y spans [y·s_in, (y+1)·s_in), and the cells u overlapping y are y·s_in/s_out ..= ((y+1)·s_in−1)/s_out.
fn area_weight(y: u32, u: u32, s_in: u32, s_out: u32) -> f32 {
    let lo = max(u * s_out, y * s_in);
    let hi = min((u + 1u) * s_out, (y + 1u) * s_in);
    if (hi <= lo) { return 0.0; }
    return f32(hi - lo) / f32(s_in);
}

// area_resize_fwd: out[i,y,x,k] = Σ_{u,v} w(y,u)·w(x,v)·src[i,u,v,k]
@group(0) @binding(1) var<storage, read_write> rf_out: array<f32>;  // [n, s_out, s_out, ch]
@group(0) @binding(2) var<storage, read> rf_x: array<f32>;          // [n, s_in, s_in, ch]

@compute @workgroup_size(256)
fn area_resize_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = index(gid, nwg);
    let s_in = p.b;
    let s_out = p.c;
    let ch = p.d;
    if (o >= p.a * s_out * s_out * ch || s_in == 0u) { return; }
    let k = o % ch;
    let x = (o / ch) % s_out;
    let y = (o / (ch * s_out)) % s_out;
    let i = o / (ch * s_out * s_out);
    var sum = 0.0;
    for (var u = (y * s_in) / s_out; u <= ((y + 1u) * s_in - 1u) / s_out; u = u + 1u) {
        let wy = area_weight(y, u, s_in, s_out);
        for (var v = (x * s_in) / s_out; v <= ((x + 1u) * s_in - 1u) / s_out; v = v + 1u) {
            sum = sum + (wy * area_weight(x, v, s_in, s_out)) * rf_x[((i * s_in + u) * s_in + v) * ch + k];
        }
    }
    rf_out[o] = sum;
}

// area_resize_bwd: dx[i,u,v,k] += Σ_{y,x} w(y,u)·w(x,v)·dout[i,y,x,k]   (the transpose; one
// invocation per input cell, looping over the output cells y = u·s_out/s_in ..= ((u+1)·s_out−1)/s_in)
@group(0) @binding(1) var<storage, read_write> rb_dx: array<f32>;   // [n, s_in, s_in, ch]
@group(0) @binding(2) var<storage, read> rb_dout: array<f32>;       // [n, s_out, s_out, ch]

@compute @workgroup_size(256)
fn area_resize_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = index(gid, nwg);
    let s_in = p.b;
    let s_out = p.c;
    let ch = p.d;
    if (j >= p.a * s_in * s_in * ch || s_out == 0u) { return; }
    let k = j % ch;
    let v = (j / ch) % s_in;
    let u = (j / (ch * s_in)) % s_in;
    let i = j / (ch * s_in * s_in);
    var sum = 0.0;
    for (var y = (u * s_out) / s_in; y <= ((u + 1u) * s_out - 1u) / s_in; y = y + 1u) {
        let wy = area_weight(y, u, s_in, s_out);
        for (var x = (v * s_out) / s_in; x <= ((v + 1u) * s_out - 1u) / s_in; x = x + 1u) {
            sum = sum + (wy * area_weight(x, v, s_in, s_out)) * rb_dout[((i * s_out + y) * s_out + x) * ch + k];
        }
    }
    rb_dx[j] = rb_dx[j] + sum;
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
