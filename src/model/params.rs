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
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

pub struct ParamSet<B: Backend> {
    pub params: Vec<Param<B>>,
}

impl<B: Backend> Default for ParamSet<B> {
    fn default() -> Self {
        ParamSet { params: Vec::new() }
    }
}

impl<B: Backend> ParamSet<B> {
    /// Add a tensor; stream = its index, so init does not depend on the backend.
    pub fn add(&mut self, be: &B, name: String, shape: &[usize], init: Init, seed: u32) -> usize {
        let n: usize = shape.iter().product();
        let value = be.zeros(n);
        match init {
            Init::Normal(std) => be.randn(&value, seed, self.params.len() as u32, std),
            Init::Zeros => {}
            Init::Ones => be.fill(&value, 1.0),
            Init::Value(a, b) => be.write(&value, &[a, b]),
        }
        self.params.push(Param {
            name,
            shape: shape.to_vec(),
            value,
            grad: be.zeros(n),
            m: be.zeros(n),
            v: be.zeros(n),
            decay: shape.len() >= 2,
        });
        self.params.len() - 1
    }

    pub fn get(&self, i: usize) -> &Param<B> {
        &self.params[i]
    }

    pub fn count(&self) -> usize {
        self.params.iter().map(|p| p.numel()).sum()
    }

    pub fn zero_grads(&self, be: &B) {
        for p in &self.params {
            be.fill(&p.grad, 0.0);
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

/// The safetensors serialisation of tensors + string metadata.
pub fn safetensors_bytes(tensors: &[(String, Vec<usize>, Vec<f32>)], meta: HashMap<String, String>) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, d)| bytemuck::cast_slice(d).to_vec()).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<_>>()?;
    Ok(safetensors::serialize(views, Some(meta))?)
}

/// Read a safetensors file: tensors by name, and its metadata. Clear errors for a missing,
/// truncated or corrupt file.
pub fn load_safetensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
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
