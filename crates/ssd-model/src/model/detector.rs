//! The runtime detector: one ONNX SSD loaded with tract, checked against its metadata, and
//! run frame after frame with the same plan, state and buffers.

use super::error::ModelError;
use super::meta::{MetaError, ModelMeta};
use super::summary::ModelSummary;
use prost::Message;
use ssd_core::frame::Frame;
use ssd_core::image::preprocess::Preprocessor;
use ssd_core::limits::{read_bounded, MAX_MODEL_BYTES};
use ssd_core::ssd::{Decoder, Detections};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Where the metadata in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaOrigin {
    /// The model's own metadata_props.
    Embedded,
    /// A sidecar TOML given by the user.
    Sidecar(PathBuf),
}

/// An SSD model ready to run. Everything a frame needs is allocated here, once: tract's plan
/// and state, the input tensor, the preprocessing tables and the decoder's scratch.
pub struct Detector {
    origin: String,
    meta: ModelMeta,
    meta_origin: MetaOrigin,
    summary: ModelSummary,
    state: TypedSimpleState,
    /// The input tensor, shared with tract during a run and written in place between runs.
    input: Arc<Tensor>,
    /// Times the input tensor had to be reallocated because tract still held it (expected 0).
    input_reallocations: usize,
    preprocess: Preprocessor,
    decoder: Decoder,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("origin", &self.origin)
            .field("architecture", &self.meta.architecture)
            .field("priors", &self.decoder.num_priors())
            .field("classes", &self.decoder.num_classes())
            .finish()
    }
}

fn tract_err<'a>(
    origin: &'a str,
    stage: &'static str,
) -> impl FnOnce(TractError) -> ModelError + 'a {
    move |e| ModelError::Tract {
        origin: origin.to_string(),
        stage,
        detail: format!("{e:#}"),
    }
}

impl Detector {
    /// Loads `model`; `sidecar`, when given, describes the model instead of its own metadata.
    pub fn load(model: &Path, sidecar: Option<&Path>) -> Result<Detector, ModelError> {
        let bytes = read_bounded(model, MAX_MODEL_BYTES).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                ModelError::NotFound {
                    path: model.to_path_buf(),
                }
            } else {
                ModelError::Io {
                    path: model.to_path_buf(),
                    error,
                }
            }
        })?;
        let dir = model.parent().map(Path::to_path_buf);
        Self::load_bytes(
            &bytes,
            &model.display().to_string(),
            dir.as_deref(),
            sidecar,
        )
    }

    /// Loads a model held in memory (e.g. embedded in the binary with `include_bytes!`).
    pub fn from_bytes(bytes: &[u8], sidecar: Option<&Path>) -> Result<Detector, ModelError> {
        Self::load_bytes(bytes, "<embedded model>", None, sidecar)
    }

    /// `origin` names the model in errors; `dir` resolves external tensor data, if any.
    pub fn load_bytes(
        bytes: &[u8],
        origin: &str,
        dir: Option<&Path>,
        sidecar: Option<&Path>,
    ) -> Result<Detector, ModelError> {
        let proto = decode_proto(bytes, origin)?;
        let (meta, meta_origin) = read_meta(&proto, origin, sidecar)?;
        Self::from_proto(proto, bytes.len(), origin, dir, meta, meta_origin)
    }

    fn from_proto(
        proto: pb::ModelProto,
        file_bytes: usize,
        origin: &str,
        dir: Option<&Path>,
        mut meta: ModelMeta,
        meta_origin: MetaOrigin,
    ) -> Result<Detector, ModelError> {
        let foreign = |detail: String| ModelError::Foreign {
            origin: origin.to_string(),
            detail,
        };
        let graph = proto
            .graph
            .as_ref()
            .expect("decode_proto checked the graph");
        if let ssd_core::ssd::Priors::Tensor(t) = &mut meta.priors {
            let boxes = read_anchor_tensor(graph, t).map_err(foreign)?;
            crate::model::meta::check_class_scores(boxes.len(), meta.labels.len())
                .map_err(|e| foreign(e.to_string()))?;
            t.boxes = Some(Arc::new(boxes));
        }
        let input_name = check_graph(graph, &meta).map_err(foreign)?;
        let mut summary = ModelSummary::from_proto(&proto, file_bytes);
        summary.input = input_name;

        let onnx = tract_onnx::onnx();
        let dir = dir.and_then(Path::to_str);
        let parsed = onnx
            .parse(&proto, dir)
            .map_err(tract_err(origin, "reading the graph"))?;
        if !parsed.unresolved_inputs.is_empty() {
            return Err(foreign(format!(
                "node inputs {:?} are produced by no node, initializer or graph input",
                parsed.unresolved_inputs
            )));
        }
        let mut model = parsed.model;
        let (w, h) = (meta.input.width as usize, meta.input.height as usize);
        model
            .set_input_fact(0, f32::fact([1, 3, h, w]).into())
            .map_err(tract_err(origin, "fixing the input to 1x3xHxW"))?;
        let mut typed = model.into_typed().map_err(tract_err(
            origin,
            "analysing the graph with a 1x3xHxW f32 input",
        ))?;

        let names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let mut shapes = Vec::with_capacity(names.len());
        for ix in 0..typed
            .output_outlets()
            .map_err(tract_err(origin, "listing outputs"))?
            .len()
        {
            let fact = typed
                .output_fact(ix)
                .map_err(tract_err(origin, "listing outputs"))?;
            let shape = fact.shape.as_concrete().map(|s| s.to_vec());
            shapes.push(OutputInfo {
                name: names
                    .get(ix)
                    .cloned()
                    .unwrap_or_else(|| format!("output {ix}")),
                shape,
                is_f32: fact.datum_type == f32::datum_type(),
            });
        }
        let (loc_ix, conf_ix) = pick_outputs(&shapes, &meta).map_err(foreign)?;
        let p = shapes[loc_ix]
            .shape
            .as_ref()
            .expect("picked outputs have concrete shapes")[1];
        let c = shapes[conf_ix]
            .shape
            .as_ref()
            .expect("picked outputs have concrete shapes")[2];
        let priors = meta.priors.num_priors().unwrap_or(0);
        if p != priors {
            return Err(ModelError::PriorMismatch {
                origin: origin.into(),
                model: p,
                priors,
            });
        }
        if c != meta.num_classes() {
            return Err(ModelError::LabelMismatch {
                origin: origin.into(),
                model: c,
                labels: meta.num_classes(),
            });
        }
        summary.loc_output = shapes[loc_ix].name.clone();
        summary.conf_output = shapes[conf_ix].name.clone();

        let outlets = typed
            .output_outlets()
            .map_err(tract_err(origin, "listing outputs"))?;
        let keep = [outlets[loc_ix], outlets[conf_ix]];
        typed
            .select_output_outlets(&keep)
            .map_err(tract_err(origin, "selecting outputs"))?;
        let optimized = typed
            .into_optimized()
            .map_err(tract_err(origin, "optimising"))?;
        summary.optimized_nodes = optimized.nodes().len();
        let plan = optimized
            .into_runnable()
            .map_err(tract_err(origin, "building the plan"))?;
        let state =
            TypedSimpleState::new(&plan).map_err(tract_err(origin, "creating the state"))?;

        let input = Arc::new(
            Tensor::zero::<f32>(&[1, 3, h, w])
                .map_err(tract_err(origin, "allocating the input tensor"))?,
        );
        let mut nms = meta.nms;
        nms.score_threshold = nms.score_threshold.max(meta.detection_threshold);
        let decoder = Decoder::new(
            meta.priors.generate().map_err(|e| foreign(e.to_string()))?,
            meta.num_classes(),
            meta.variances,
            nms,
        )
        .with_box_decode(meta.decode);
        log::info!(
            "loaded {origin}: {} ({}x{} input, {} priors, {} classes, {} ops after optimisation)",
            meta.architecture,
            w,
            h,
            p,
            c,
            summary.optimized_nodes
        );
        Ok(Detector {
            origin: origin.to_string(),
            preprocess: Preprocessor::new(&meta.input),
            meta,
            meta_origin,
            summary,
            state,
            input,
            input_reallocations: 0,
            decoder,
        })
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn meta_origin(&self) -> &MetaOrigin {
        &self.meta_origin
    }

    pub fn summary(&self) -> &ModelSummary {
        &self.summary
    }

    /// The model's path, or "<embedded model>".
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Minimum score of reported detections. Starts at the model's `detection_threshold`
    /// (or its NMS candidate threshold, if higher).
    pub fn score_threshold(&self) -> f32 {
        self.decoder.nms_config().score_threshold
    }

    /// How often the input tensor was reallocated because tract still held the previous
    /// one; stays 0 when frames reuse the one buffer as intended.
    pub fn input_reallocations(&self) -> usize {
        self.input_reallocations
    }

    pub fn set_score_threshold(&mut self, t: f32) {
        self.decoder.set_score_threshold(t);
    }

    /// The threshold rule of every command: `flag` (a `--threshold` value) when given, else
    /// the model's `detection_threshold` (see [`Detector::score_threshold`]); a flag is
    /// checked by [`check_threshold`](super::meta::check_threshold) like the metadata is.
    /// Returns the threshold now in use.
    pub fn apply_threshold(&mut self, flag: Option<f32>) -> Result<f32, ModelError> {
        match flag {
            None => Ok(self.score_threshold()),
            Some(t) => {
                let t = super::meta::check_threshold(t).map_err(ModelError::Threshold)?;
                self.set_score_threshold(t);
                Ok(t)
            }
        }
    }

    /// Preprocess + forward + decode. Boxes in `out` are normalised [x0, y0, x1, y1], best
    /// score first. Our buffers are reused; tract's state may allocate inside its ops.
    pub fn detect(&mut self, frame: &Frame<'_>, out: &mut Detections) -> Result<(), ModelError> {
        self.detect_timed(frame, out).map(|_| ())
    }

    /// [`Detector::detect`], also returning how long each stage took.
    pub fn detect_timed(
        &mut self,
        frame: &Frame<'_>,
        out: &mut Detections,
    ) -> Result<StageTimes, ModelError> {
        let start = Instant::now();
        let input = unique_input(&mut self.input, &mut self.input_reallocations, &self.origin)?;
        self.preprocess.run(frame, input)?;
        let mut times = self.forward_and_decode(out)?;
        times.preprocess = start.elapsed() - times.forward - times.decode;
        Ok(times)
    }

    /// Runs on an already normalised 1x3xHxW input (CHW, model channel order); for
    /// evaluation code that prepares its own tensors.
    pub fn detect_tensor(&mut self, input: &[f32], out: &mut Detections) -> Result<(), ModelError> {
        let buf = unique_input(&mut self.input, &mut self.input_reallocations, &self.origin)?;
        if buf.len() != input.len() {
            return Err(ModelError::Foreign {
                origin: self.origin.clone(),
                detail: format!(
                    "input tensor has {} values, expected {}",
                    input.len(),
                    buf.len()
                ),
            });
        }
        buf.copy_from_slice(input);
        self.forward_and_decode(out).map(|_| ())
    }

    /// Runs the forward pass once more on the input of the last frame, timing every node of
    /// tract's plan: where the milliseconds go (`ssd-edge bench --profile`).
    pub fn profile_forward(&mut self) -> Result<Vec<NodeTime>, ModelError> {
        let mut spent: Vec<(usize, Duration)> = Vec::new();
        let input = TValue::from_const(self.input.clone());
        self.state
            .run_plan_with_eval(tvec!(input), |ctx, state, node, inputs| {
                let t = Instant::now();
                let r = tract_onnx::tract_core::plan::eval(ctx, state, node, inputs);
                spent.push((node.id, t.elapsed()));
                r
            })
            .map_err(tract_err(&self.origin, "profiling the model"))?;
        let model = self.state.model();
        Ok(spent
            .into_iter()
            .map(|(id, time)| {
                let node = model.node(id);
                NodeTime {
                    name: node.name.clone(),
                    op: node.op().name().to_string(),
                    info: node
                        .op()
                        .info()
                        .ok()
                        .map(|lines| lines.join("; "))
                        .unwrap_or_default(),
                    time,
                }
            })
            .collect())
    }

    fn forward_and_decode(&mut self, out: &mut Detections) -> Result<StageTimes, ModelError> {
        let start = Instant::now();
        let outputs = self
            .state
            .run(tvec!(TValue::from_const(self.input.clone())))
            .map_err(tract_err(&self.origin, "running the model"))?;
        let loc = outputs[0]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(tract_err(&self.origin, "reading loc"))?;
        let conf = outputs[1]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(tract_err(&self.origin, "reading conf"))?;
        let forwarded = Instant::now();
        self.decoder.decode(loc, conf, self.meta.conf_kind, out)?;
        // A foreign model can output huge or NaN offsets; such a box is no detection, and a
        // non-finite number must never reach the JSON.
        out.retain(|d| d.score.is_finite() && d.bbox.iter().all(|v| v.is_finite()));
        Ok(StageTimes {
            preprocess: Duration::ZERO,
            forward: forwarded - start,
            decode: forwarded.elapsed(),
        })
    }
}

/// Wall time of one node of tract's plan in one forward pass.
#[derive(Clone, Debug)]
pub struct NodeTime {
    pub name: String,
    /// The op tract lowered the node to (e.g. `OptMatMul`, `DepthWise`).
    pub op: String,
    /// tract's description of it (e.g. the matrix product's m, k, n).
    pub info: String,
    pub time: Duration,
}

/// Wall time of each stage of one detection.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Pixel-format conversion and resize into the input tensor.
    pub preprocess: Duration,
    /// tract's forward pass.
    pub forward: Duration,
    /// Decode + NMS.
    pub decode: Duration,
}

/// The input tensor's data, writable: the tensor is ours again once a run has finished.
fn unique_input<'a>(
    input: &'a mut Arc<Tensor>,
    reallocations: &mut usize,
    origin: &str,
) -> Result<&'a mut [f32], ModelError> {
    if Arc::get_mut(input).is_none() {
        *reallocations += 1;
        // tract kept a reference from the last run (not seen with tract 0.23); fall back to
        // a fresh tensor rather than failing.
        log::debug!("input tensor still shared after a run; reallocating");
        *input = Arc::new(input.as_ref().clone());
    }
    let tensor = Arc::get_mut(input).expect("just made unique");
    tensor
        .to_plain_array_view_mut::<f32>()
        .map_err(tract_err(origin, "writing the input tensor"))?
        .into_slice()
        .ok_or_else(|| ModelError::Tract {
            origin: origin.to_string(),
            stage: "writing the input tensor",
            detail: "input tensor is not contiguous".into(),
        })
}

/// The boxes of an anchor initializer (`[P, 4]` or `[1, P, 4]` float32, inline data).
fn read_anchor_tensor(
    graph: &pb::GraphProto,
    t: &ssd_core::ssd::AnchorTensor,
) -> Result<Vec<ssd_core::ssd::CenterBox>, String> {
    let init = graph
        .initializer
        .iter()
        .find(|i| i.name == t.name)
        .ok_or_else(|| {
            format!(
                "the metadata names anchor tensor `{}`, which the graph does not hold",
                t.name
            )
        })?;
    let dims: Vec<i64> = init.dims.iter().copied().filter(|&d| d != 1).collect();
    let rows = match dims.as_slice() {
        [p, 4] if *p > 0 => *p as usize,
        _ => {
            return Err(format!(
                "anchor tensor `{}` has shape {:?}, expected [P, 4]",
                t.name, init.dims
            ))
        }
    };
    if init.data_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(format!("anchor tensor `{}` is not float32", t.name));
    }
    let values: Vec<f32> = if !init.raw_data.is_empty() {
        init.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        init.float_data.clone()
    };
    if values.len() != rows * 4 || values.iter().any(|v| !v.is_finite()) {
        return Err(format!(
            "anchor tensor `{}` holds {} values, expected {} finite ones",
            t.name,
            values.len(),
            rows * 4
        ));
    }
    if rows > ssd_core::ssd::MAX_PRIORS {
        return Err(format!(
            "anchor tensor `{}`: {rows} anchors, more than the limit",
            t.name
        ));
    }
    Ok(values
        .chunks_exact(4)
        .map(|b| t.coords.to_center([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn decode_proto(bytes: &[u8], origin: &str) -> Result<pb::ModelProto, ModelError> {
    let not_onnx = |detail: &str| ModelError::NotOnnx {
        origin: origin.into(),
        detail: detail.into(),
    };
    if bytes.is_empty() {
        return Err(not_onnx("the file is empty"));
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| ModelError::Corrupt {
        origin: origin.into(),
        detail: e.to_string(),
    })?;
    // Protobuf is permissive: arbitrary bytes can decode as a message of unknown fields, and
    // a file cut at a field boundary decodes cleanly. A real model has a graph with nodes
    // and an opset; anything else is reported as not an ONNX model (or truncated).
    match &proto.graph {
        None => Err(not_onnx(
            "no graph in the file; truncated, or not an ONNX model",
        )),
        Some(g) if g.node.is_empty() => Err(not_onnx("the graph has no nodes; truncated?")),
        Some(g) if g.output.is_empty() => {
            Err(not_onnx("the graph declares no outputs; truncated?"))
        }
        Some(_) if proto.opset_import.is_empty() => {
            Err(not_onnx("no opset_import; truncated, or not an ONNX model"))
        }
        Some(_) => Ok(proto),
    }
}

fn read_meta(
    proto: &pb::ModelProto,
    origin: &str,
    sidecar: Option<&Path>,
) -> Result<(ModelMeta, MetaOrigin), ModelError> {
    if let Some(path) = sidecar {
        let meta = ModelMeta::from_sidecar(path).map_err(|error| ModelError::Sidecar { error })?;
        return Ok((meta, MetaOrigin::Sidecar(path.to_path_buf())));
    }
    let props: Vec<(String, String)> = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    match ModelMeta::from_metadata_props(&props) {
        Ok(meta) => Ok((meta, MetaOrigin::Embedded)),
        Err(MetaError::Absent) => Err(ModelError::NoMetadata {
            origin: origin.into(),
        }),
        Err(error) => Err(ModelError::Metadata {
            origin: origin.into(),
            error,
        }),
    }
}

/// Checks what tract assumes without checking, so a malformed graph gives an error, not a
/// panic; and checks the one image input against the metadata. Returns the input's name.
fn check_graph(graph: &pb::GraphProto, meta: &ModelMeta) -> Result<String, String> {
    use pb::tensor_shape_proto::dimension::Value;
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut produced: HashSet<&str> = initializers.clone();
    produced.extend(graph.input.iter().map(|i| i.name.as_str()));
    for node in &graph.node {
        produced.extend(node.output.iter().map(String::as_str));
    }
    for out in &graph.output {
        if !produced.contains(out.name.as_str()) {
            return Err(format!(
                "graph output `{}` is produced by no node",
                out.name
            ));
        }
    }
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(format!(
            "an SSD takes one image input, this graph has {}: {names:?}",
            names.len()
        ));
    };
    let Some(pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(format!("input `{}` is not a tensor", input.name));
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(format!(
            "input `{}` is not float32 (ONNX elem_type {})",
            input.name, t.elem_type
        ));
    }
    if let Some(shape) = &t.shape {
        let dims: Vec<Option<i64>> = shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(Value::DimValue(v)) if v > 0 => Some(v),
                _ => None,
            })
            .collect();
        let show: Vec<String> = dims
            .iter()
            .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
            .collect();
        let show = show.join("x");
        if dims.len() != 4 {
            return Err(format!(
                "input `{}` has rank {} ({show}); an SSD takes a 1x3xHxW image",
                input.name,
                dims.len()
            ));
        }
        let want = [1, 3, meta.input.height as i64, meta.input.width as i64];
        for (i, (d, w)) in dims.iter().zip(want).enumerate() {
            if let Some(d) = d {
                if *d != w {
                    return Err(format!(
                        "input `{}` is {show} but the metadata asks for 1x3x{}x{} (dimension {i} differs)",
                        input.name, meta.input.height, meta.input.width
                    ));
                }
            }
        }
    }
    Ok(input.name.clone())
}

struct OutputInfo {
    name: String,
    shape: Option<Vec<usize>>,
    is_f32: bool,
}

fn describe(outputs: &[OutputInfo]) -> String {
    outputs
        .iter()
        .map(|o| match &o.shape {
            Some(s) => format!("`{}` {:?}", o.name, s),
            None => format!("`{}` (unknown shape)", o.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_output(o: &OutputInfo, what: &str, last: usize, shape_ok: bool) -> Result<(), String> {
    if !shape_ok {
        return Err(format!(
            "the {what} output `{}` has shape {:?}, expected [1,P,{last}]",
            o.name,
            o.shape.as_deref().unwrap_or(&[])
        ));
    }
    if !o.is_f32 {
        return Err(format!("the {what} output `{}` is not float32", o.name));
    }
    Ok(())
}

/// Finds loc [1,P,4] and conf [1,P,C]: by the metadata's names when given, else by shape.
fn pick_outputs(outputs: &[OutputInfo], meta: &ModelMeta) -> Result<(usize, usize), String> {
    let c = meta.num_classes();
    let by_name = |name: &Option<String>, what: &str| -> Result<Option<usize>, String> {
        match name {
            None => Ok(None),
            Some(n) => outputs
                .iter()
                .position(|o| &o.name == n)
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "the metadata names the {what} output `{n}`, but the outputs are {}",
                        describe(outputs)
                    )
                }),
        }
    };
    let ssd_shape = |o: &OutputInfo, last: usize| matches!(&o.shape, Some(s) if s.len() == 3 && s[0] == 1 && s[2] == last);
    let named_loc = by_name(&meta.outputs.loc, "loc")?;
    let named_conf = by_name(&meta.outputs.conf, "conf")?;
    // Shapes of named outputs are checked before anything indexes them.
    for (ix, what, last) in [(named_loc, "loc", 4), (named_conf, "conf", c)] {
        if let Some(ix) = ix {
            check_output(&outputs[ix], what, last, ssd_shape(&outputs[ix], last))?;
        }
    }
    let pick = |named: Option<usize>, last: usize, exclude: Option<usize>| -> Vec<usize> {
        match named {
            Some(i) => vec![i],
            None => (0..outputs.len())
                .filter(|&i| Some(i) != exclude && ssd_shape(&outputs[i], last))
                .collect(),
        }
    };
    let loc_candidates = pick(named_loc, 4, named_conf);
    let (loc, conf) = match (loc_candidates.as_slice(), named_conf) {
        // One loc-shaped output is clear; with C == 4 both outputs look like loc, and the
        // order of ssd.pytorch's (loc, conf) tuple decides.
        ([l], _) => (*l, pick(named_conf, c, Some(*l))),
        ([l, ..], None) if c == 4 => (*l, pick(None, c, Some(*l))),
        ([], _) => {
            return Err(format!(
                "no output of shape [1,P,4] (box offsets); outputs are {}",
                describe(outputs)
            ))
        }
        (_, _) => {
            return Err(format!(
                "several outputs look like box offsets [1,P,4]: {}; name them in the metadata (outputs.loc / outputs.conf)",
                describe(outputs)
            ))
        }
    };
    let conf = match conf.as_slice() {
        [i] => *i,
        [] => {
            return Err(format!(
                "no output of shape [1,P,{c}] (class scores for {c} labels incl. background); outputs are {}",
                describe(outputs)
            ))
        }
        many => {
            // Prefer one whose P agrees with loc.
            let p = outputs[loc].shape.as_ref().map(|s| s[1]);
            let same: Vec<usize> = many
                .iter()
                .copied()
                .filter(|&i| outputs[i].shape.as_ref().map(|s| s[1]) == p)
                .collect();
            match same.as_slice() {
                [i] => *i,
                _ => {
                    return Err(format!(
                        "several outputs could be class scores [1,P,{c}]: {}; name them in the metadata",
                        describe(outputs)
                    ))
                }
            }
        }
    };
    for (ix, what, last) in [(loc, "loc", 4), (conf, "conf", c)] {
        check_output(&outputs[ix], what, last, ssd_shape(&outputs[ix], last))?;
    }
    if loc == conf {
        return Err(format!(
            "the metadata names `{}` as both the loc and the conf output",
            outputs[loc].name
        ));
    }
    let (pl, pc) = (
        outputs[loc].shape.as_ref().unwrap()[1],
        outputs[conf].shape.as_ref().unwrap()[1],
    );
    if pl != pc {
        return Err(format!("loc has {pl} boxes but conf has {pc}"));
    }
    Ok((loc, conf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta_with(classes: usize, loc: Option<&str>, conf: Option<&str>) -> ModelMeta {
        let toml = format!(
            r#"
schema_version = 1
architecture = "t"
labels = [{}]
conf_kind = "logits"
[input]
width = 300
height = 300
channel_order = "RGB"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
scale = 1.0
[priors]
image_size = 300
feature_maps = [1]
aspect_ratios = [[]]
clip = true
[priors.scales]
kind = "explicit"
scales = [0.2, 0.4]
"#,
            (0..classes)
                .map(|k| format!("\"c{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut meta = ModelMeta::from_toml_str(&toml).unwrap();
        meta.outputs.loc = loc.map(String::from);
        meta.outputs.conf = conf.map(String::from);
        meta
    }

    fn shape() -> impl Strategy<Value = Option<Vec<usize>>> {
        prop::option::of(prop::collection::vec(
            prop_oneof![Just(1usize), Just(2), Just(3), Just(4), 0usize..10],
            0..5,
        ))
    }

    proptest! {
        /// Whatever outputs a foreign model has and whichever the metadata names, choosing
        /// loc and conf is an answer or an error, never an index out of bounds; an answer
        /// has the SSD shapes.
        #[test]
        fn picking_outputs_never_panics(
            shapes in prop::collection::vec((shape(), any::<bool>()), 0..5),
            classes in 2usize..6,
            loc in prop::option::of(0usize..6),
            conf in prop::option::of(0usize..6),
        ) {
            let outputs: Vec<OutputInfo> = shapes
                .into_iter()
                .enumerate()
                .map(|(i, (shape, is_f32))| OutputInfo { name: format!("o{i}"), shape, is_f32 })
                .collect();
            let name = |i: Option<usize>| i.map(|i| format!("o{i}"));
            let (l, c) = (name(loc), name(conf));
            let meta = meta_with(classes, l.as_deref(), c.as_deref());
            if let Ok((li, ci)) = pick_outputs(&outputs, &meta) {
                let (ls, cs) = (outputs[li].shape.as_ref().unwrap(), outputs[ci].shape.as_ref().unwrap());
                prop_assert!(ls.len() == 3 && ls[0] == 1 && ls[2] == 4);
                prop_assert!(cs.len() == 3 && cs[0] == 1 && cs[2] == classes && cs[1] == ls[1]);
                prop_assert!(li != ci);
            }
        }
    }

    #[test]
    fn a_named_loc_of_rank_one_is_an_error() {
        let outputs = vec![
            OutputInfo {
                name: "flat".into(),
                shape: Some(vec![8]),
                is_f32: true,
            },
            OutputInfo {
                name: "c1".into(),
                shape: Some(vec![1, 2, 3]),
                is_f32: true,
            },
            OutputInfo {
                name: "c2".into(),
                shape: Some(vec![1, 2, 3]),
                is_f32: true,
            },
        ];
        let err = pick_outputs(&outputs, &meta_with(3, Some("flat"), None)).unwrap_err();
        assert!(err.contains("`flat` has shape [8]"), "{err}");
    }
}
