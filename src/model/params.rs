//! Named parameter tensors with their gradients and AdamW moments; deterministic init from the
//! counter-based RNG kernel (identical on both backends); safetensors save/load.
//!
//! Tensor names (see README "Checkpoint format"): `image.patch.weight [p·p·3, C]`,
//! `image.patch.bias [C]`, `image.pos [T, C]`, `text.tok_emb [V, C]`, `text.pos [L, C]`,
//! `{tower}.blocks.{i}.{ln1,ln2}.{weight,bias}`, `{tower}.blocks.{i}.attn.qkv.{weight [C,3C],bias}`,
//! `{tower}.blocks.{i}.attn.proj.{weight [C,C],bias}`, `{tower}.blocks.{i}.mlp.fc1.{weight [C,F],bias}`,
//! `{tower}.blocks.{i}.mlp.fc2.{weight [F,C],bias}`, `{tower}.ln_f.{weight,bias}`,
//! `{tower}.head.weight [C, D]`, `loss.t_bias [2]` = (t′, β). Linear weights are stored
//! [in, out] (y = x·W + b): transpose them for PyTorch's nn.Linear.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};

use crate::backend::Backend;

/// Host copies of named tensors: (name, shape, values).
pub type HostTensors = Vec<(String, Vec<usize>, Vec<f32>)>;
/// Host tensors by name: (shape, values).
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// How a tensor starts.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    Normal(f32),
    Zeros,
    Ones,
    Value(f32, f32), // a 2-vector (t′, β)
}

pub struct Param<B: Backend> {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: B::Buf,
    pub grad: B::Buf,
    pub m: B::Buf,
    pub v: B::Buf,
    /// decoupled weight decay applies (matrices only)
    pub decay: bool,
}

impl<B: Backend> Param<B> {
    /// A tensor whose value, grad, m and v are `buf(0)`, `buf(1)`, `buf(2)`, `buf(3)`.
    fn with(name: String, shape: Vec<usize>, decay: bool, buf: impl Fn(usize) -> B::Buf) -> Self {
        Param { name, shape, value: buf(0), grad: buf(1), m: buf(2), v: buf(3), decay }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The tensors a model declares, before any is allocated: (name, shape, init) in order; a
/// tensor's index here is its index in the `ParamSet` and its RNG stream.
#[derive(Default)]
pub struct ParamSpecs {
    specs: Vec<(String, Vec<usize>, Init)>,
}

impl ParamSpecs {
    /// Declare a tensor; returns its index.
    pub fn add(&mut self, name: String, shape: &[usize], init: Init) -> usize {
        self.specs.push((name, shape.to_vec(), init));
        self.specs.len() - 1
    }
}

/// Where the backend has views (the GPU), every tensor's value, gradient and moments are views
/// into four flat buffers, matrices (weight decay) first, then vectors, each tensor at an
/// aligned offset (the gaps stay zero, and AdamW keeps zero at zero). The whole step's
/// gradient zeroing, norm and update then take 1 + 2 + 2 dispatches instead of 3 per tensor.
struct Flat<B: Backend> {
    /// every gradient, [total]
    grad: B::Buf,
    /// (value, grad, m, v) over the decayed tensors, then over the rest
    slabs: Vec<Param<B>>,
}

pub struct ParamSet<B: Backend> {
    pub params: Vec<Param<B>>,
    flat: Option<Flat<B>>,
}

impl<B: Backend> ParamSet<B> {
    /// Allocate and initialise the declared tensors: tensor i from RNG stream i, so the values
    /// do not depend on the backend or the layout. Flat buffers where the backend has views
    /// and they fit one binding, else a buffer per tensor.
    pub fn new(be: &B, specs: ParamSpecs, seed: u32) -> Self {
        let specs = specs.specs;
        let decays = |shape: &[usize]| shape.len() >= 2;
        let numel = |shape: &[usize]| shape.iter().product::<usize>();
        // offsets: decayed tensors first, each padded to the view alignment
        let layout = be.view_align().and_then(|align| {
            let mut off = vec![0; specs.len()];
            let mut total = 0;
            let mut split = 0;
            for pass_decay in [true, false] {
                for (i, (_, shape, _)) in specs.iter().enumerate() {
                    if decays(shape) == pass_decay {
                        off[i] = total;
                        total += numel(shape).div_ceil(align) * align;
                    }
                }
                if pass_decay {
                    split = total;
                }
            }
            (total > 0 && (total * 4) as u64 <= be.max_buffer_bytes()).then_some((off, split, total))
        });
        // buffer k (0 value, 1 grad, 2 m, 3 v) of n words at offset o: a view, or its own
        let whole = layout.as_ref().map(|&(_, _, total)| [(); 4].map(|_| be.zeros(total)));
        let buf = |k: usize, o: usize, n: usize| match &whole {
            Some(w) => be.view(&w[k], o, n),
            None => be.zeros(n),
        };
        let params: Vec<Param<B>> = specs
            .iter()
            .enumerate()
            .map(|(i, (name, shape, _))| {
                let (o, n) = (layout.as_ref().map_or(0, |(off, _, _)| off[i]), numel(shape));
                Param::with(name.clone(), shape.clone(), decays(shape), |k| buf(k, o, n))
            })
            .collect();
        let flat = layout.zip(whole.as_ref()).map(|((_, split, total), w)| {
            let slabs = [(0, split, true), (split, total, false)]
                .into_iter()
                .filter(|(a, b, _)| b > a)
                .map(|(a, b, decay)| {
                    let name = if decay { "matrices" } else { "vectors" };
                    Param::with(name.into(), vec![b - a], decay, |k| buf(k, a, b - a))
                })
                .collect();
            Flat { grad: w[1].clone(), slabs }
        });
        for (i, ((_, _, init), p)) in specs.iter().zip(&params).enumerate() {
            match *init {
                Init::Normal(std) => be.randn(&p.value, seed, i as u32, std),
                Init::Zeros => {}
                Init::Ones => be.fill(&p.value, 1.0),
                Init::Value(a, b) => be.write(&p.value, &[a, b]),
            }
        }
        ParamSet { params, flat }
    }

    /// Whether the tensors live in flat buffers (one dispatch zeroes every gradient).
    pub fn is_flat(&self) -> bool {
        self.flat.is_some()
    }

    /// The gradient buffers whose squares sum to the global norm²: the one flat buffer, or
    /// every tensor's.
    pub fn grad_buffers(&self) -> Vec<&B::Buf> {
        match &self.flat {
            Some(f) => vec![&f.grad],
            None => self.params.iter().map(|p| &p.grad).collect(),
        }
    }

    /// The (value, grad, m, v) groups AdamW runs over: the two flat slabs (matrices, vectors),
    /// or every tensor on its own.
    pub fn update_groups(&self) -> &[Param<B>] {
        match &self.flat {
            Some(f) => &f.slabs,
            None => &self.params,
        }
    }

    pub fn get(&self, i: usize) -> &Param<B> {
        &self.params[i]
    }

    pub fn count(&self) -> usize {
        self.params.iter().map(|p| p.numel()).sum()
    }

    pub fn zero_grads(&self, be: &B) {
        match &self.flat {
            Some(f) => be.fill(&f.grad, 0.0),
            None => self.params.iter().for_each(|p| be.fill(&p.grad, 0.0)),
        }
    }

    /// Host copies of the values (and, with `with_adam`, the moments as `adam.m.*`/`adam.v.*`).
    pub fn to_host(&self, be: &B, with_adam: bool) -> Result<HostTensors> {
        let mut out = Vec::new();
        for p in &self.params {
            out.push((p.name.clone(), p.shape.clone(), be.read(&p.value)?));
            if with_adam {
                out.push((format!("adam.m.{}", p.name), p.shape.clone(), be.read(&p.m)?));
                out.push((format!("adam.v.{}", p.name), p.shape.clone(), be.read(&p.v)?));
            }
        }
        Ok(out)
    }

    /// `to_host` without blocking (the browser's read-back).
    pub async fn to_host_async(&self, be: &B) -> Result<HostTensors> {
        let mut out = Vec::new();
        for p in &self.params {
            out.push((p.name.clone(), p.shape.clone(), be.read_async(&p.value).await?));
        }
        Ok(out)
    }

    /// Load values (and moments when present and `with_adam`) from host tensors, checking
    /// every name and shape.
    pub fn from_host(&self, be: &B, tensors: &TensorMap, with_adam: bool, file: &Path) -> Result<()> {
        for p in &self.params {
            let mut names = vec![(p.name.clone(), &p.value)];
            if with_adam {
                names.push((format!("adam.m.{}", p.name), &p.m));
                names.push((format!("adam.v.{}", p.name), &p.v));
            }
            for (name, buf) in names {
                let Some((shape, data)) = tensors.get(&name) else {
                    bail!("{}: tensor `{name}` is missing — the file is from another architecture or preset", file.display());
                };
                if shape != &p.shape {
                    bail!(
                        "{}: tensor `{name}` has shape {shape:?} but this model needs {:?} — the file is from another architecture or preset",
                        file.display(),
                        p.shape
                    );
                }
                be.write(buf, data);
            }
        }
        Ok(())
    }
}

/// Write tensors + string metadata as safetensors, atomically (temp file, then rename).
pub fn save_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)], meta: HashMap<String, String>) -> Result<()> {
    crate::util::write_atomic(path, &safetensors_bytes(tensors, meta)?)
}

/// The safetensors serialisation of tensors + string metadata: the same tensors and metadata
/// give the same bytes (and so the same SHA-256, which resume and the caches compare).
pub fn safetensors_bytes(tensors: &[(String, Vec<usize>, Vec<f32>)], meta: HashMap<String, String>) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, d)| bytemuck::cast_slice(d).to_vec()).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<_>>()?;
    sorted_header(safetensors::serialize(views, Some(meta))?)
}

/// `bytes` with the JSON header's keys sorted. safetensors writes the metadata map in HashMap
/// order, which changes from process to process; data offsets are relative to the end of the
/// header, so the tensor bytes stay as they are. (The header is padded to 8 bytes, as safetensors
/// pads it.)
fn sorted_header(bytes: Vec<u8>) -> Result<Vec<u8>> {
    let n = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
    // serde_json's Value keeps object keys sorted (no `preserve_order` feature)
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n])?;
    let mut json = serde_json::to_vec(&header)?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Read a safetensors file: tensors by name, and its metadata. Clear errors for a missing,
/// truncated or corrupt file.
pub fn load_safetensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>)> {
    let bytes = crate::util::read_input_file(path, "checkpoint")?;
    parse_safetensors(&bytes, &path.display().to_string())
}

/// `load_safetensors` of bytes already in memory; `what` names them in errors.
pub fn parse_safetensors(bytes: &[u8], what: &str) -> Result<(TensorMap, HashMap<String, String>)> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .with_context(|| format!("{what} is not a valid safetensors checkpoint (truncated or corrupt)"))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let st = safetensors::SafeTensors::deserialize(bytes)
        .with_context(|| format!("{what} is not a valid safetensors checkpoint (truncated or corrupt)"))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            bail!("{what}: tensor `{name}` is {:?}, expected F32", view.dtype());
        }
        let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        out.insert(name, (view.shape().to_vec(), data));
    }
    Ok((out, meta))
}
