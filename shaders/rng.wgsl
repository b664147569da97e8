// rng.wgsl — random fills from rng_core.wgsl (prepended): normals, and the raw hash and Gumbel
// noise (for tests).
// index i = gid.x + gid.y · nwg.x · 256

struct Params { n: u32, seed: u32, stream: u32, sd: f32 };

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;

// ---- randn: out[i] = sd · normal(seed, stream, i) ----
@group(0) @binding(1) var<storage, read_write> rn_out: array<f32>; // [n]

@compute @workgroup_size(256)
fn randn(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    rn_out[i] = p.sd * rng_normal(p.seed, p.stream, i);
}

// ---- hash_fill: out[i] = hash(seed, stream, i) (u32 words) ----
@group(0) @binding(1) var<storage, read_write> hf_out: array<u32>; // [n]

@compute @workgroup_size(256)
fn hash_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    hf_out[i] = rng_hash(p.seed, p.stream, i);
}

// ---- gumbel_fill: out[i] = gumbel(seed, stream, i), the sampler's noise (for tests) ----
@group(0) @binding(1) var<storage, read_write> gf_out: array<f32>; // [n]

@compute @workgroup_size(256)
fn gumbel_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    gf_out[i] = rng_gumbel(p.seed, p.stream, i);
}
