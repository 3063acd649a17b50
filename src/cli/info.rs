//! `ssd-edge info`: what a model carries, after loading it the way `detect` does (so what is
//! printed is also known to run).

use super::detect::load_detector;
use anyhow::Result;
use ssd_edge::model::{ChannelOrder, Detector, MetaOrigin};
use ssd_edge::ssd::{ConfKind, PriorConfig, PriorScales, Priors};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX model [default: the same as `detect`].
    #[arg(value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    /// Sidecar TOML describing a model without ssd-edge metadata.
    #[arg(long, value_name = "S.toml")]
    pub sidecar: Option<PathBuf>,
    /// Print the metadata and counts as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let detector = load_detector(
        args.model.as_deref(),
        args.sidecar.as_deref(),
        ssd_edge::model::ModelFamily::Real,
    )?;
    if args.json {
        let v = serde_json::json!({
            "model": detector.origin(),
            "metadata_from": match detector.meta_origin() {
                MetaOrigin::Embedded => "embedded".to_string(),
                MetaOrigin::Sidecar(p) => p.display().to_string(),
            },
            "meta": detector.meta(),
            "num_priors": detector.meta().priors.num_priors(),
            "release_problems": detector.meta().provenance.release_problems(),
            "summary": detector.summary(),
        });
        super::output::stdout().line(v)?;
    } else {
        super::output::stdout().text(render(&detector))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn render(d: &Detector) -> String {
    let m = d.meta();
    let s = d.summary();
    let mut o = String::new();
    let meta_from = match d.meta_origin() {
        MetaOrigin::Embedded => "metadata_props".to_string(),
        MetaOrigin::Sidecar(p) => format!("sidecar {}", p.display()),
    };
    let _ = writeln!(
        o,
        "model:         {} ({} bytes)",
        d.origin(),
        thousands(s.file_bytes as u64)
    );
    let _ = writeln!(
        o,
        "metadata:      schema v{} from {meta_from}",
        m.schema_version
    );
    let _ = writeln!(o, "architecture:  {}", m.architecture);
    let i = &m.input;
    let _ = writeln!(
        o,
        "input:         `{}` 1x3x{}x{} f32, {} order, value = (pixel * {} - mean) / std, mean [{}], std [{}]",
        s.input,
        i.height,
        i.width,
        match i.channel_order {
            ChannelOrder::Rgb => "RGB",
            ChannelOrder::Bgr => "BGR",
        },
        i.scale,
        list(&i.mean),
        list(&i.std)
    );
    let labels: Vec<String> = m
        .labels
        .iter()
        .enumerate()
        .map(|(k, l)| format!("{k} {l}"))
        .collect();
    let _ = writeln!(
        o,
        "labels:        {} classes incl. background: {}",
        m.labels.len(),
        labels.join(", ")
    );
    let n_priors = m.priors.num_priors().unwrap_or(0);
    match &m.priors {
        Priors::Grid(p) => write_grid(&mut o, p),
        Priors::Ssd(a) => {
            let _ = writeln!(
                o,
                "priors:        {n_priors} anchors, TensorFlow's SSD generator: input {}x{}, strides [{}], scales {} .. {}",
                a.input_width,
                a.input_height,
                list(&a.strides),
                a.min_scale,
                a.max_scale
            );
            let _ = writeln!(
                o,
                "               aspect ratios [{}], interpolated ratio {}, reduced lowest layer {}",
                list(&a.aspect_ratios),
                a.interpolated_scale_aspect_ratio,
                a.reduce_boxes_in_lowest_layer
            );
        }
        Priors::Tensor(t) => {
            let _ = writeln!(
                o,
                "priors:        {n_priors} anchors held in the model (tensor `{}`, {:?})",
                t.name, t.coords
            );
        }
    }
    let _ = writeln!(
        o,
        "variances:     center {}, size {}",
        m.variances.center, m.variances.size
    );
    if !m.decode.is_default() {
        let _ = writeln!(
            o,
            "box decode:    clip to image {}, log size clamp {}",
            m.decode.clip,
            m.decode
                .max_log_scale
                .map_or("none".to_string(), |v| v.to_string())
        );
    }
    let _ = writeln!(
        o,
        "outputs:       loc `{}` [1,{},4], conf `{}` [1,{},{}] ({})",
        s.loc_output,
        n_priors,
        s.conf_output,
        n_priors,
        m.labels.len(),
        match m.conf_kind {
            ConfKind::Logits => "logits",
            ConfKind::Scores => "scores",
            ConfKind::Sigmoid => "sigmoid logits",
        }
    );
    let n = &m.nms;
    let _ = writeln!(
        o,
        "thresholds:    report score >= {}; NMS candidates > {}, IoU {}, top-k {} per class, keep {}",
        m.detection_threshold, n.score_threshold, n.iou_threshold, n.top_k, n.keep_top_k
    );
    let pv = &m.provenance;
    let mut prov = Vec::new();
    if let Some(v) = &pv.dataset {
        prov.push(format!("dataset {v}"));
    }
    for (k, v) in &pv.metrics {
        prov.push(format!("{k} {v}"));
    }
    if let Some(v) = &pv.date {
        prov.push(format!("date {v}"));
    }
    if let Some(v) = &pv.git_revision {
        prov.push(format!("git {v}"));
    }
    if prov.is_empty() {
        prov.push("(none recorded)".into());
    }
    let _ = writeln!(o, "provenance:    {}", prov.join(", "));
    if let Some(v) = &pv.command {
        let _ = writeln!(o, "               command: {v}");
    }
    if let Some(v) = &pv.notes {
        let _ = writeln!(o, "               notes: {v}");
    }
    for p in pv.release_problems() {
        let _ = writeln!(o, "               not a release model: {p}");
    }
    let _ = writeln!(
        o,
        "graph:         {} nodes, opset {}, IR {}, producer {}",
        s.nodes,
        s.opset,
        s.ir_version,
        if s.producer.is_empty() {
            "?"
        } else {
            &s.producer
        }
    );
    let mut ops: Vec<(&String, &usize)> = s.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let ops: Vec<String> = ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(o, "ops:           {}", ops.join(", "));
    let by_type: Vec<String> = s
        .parameters_by_type
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v)))
        .collect();
    let _ = writeln!(
        o,
        "parameters:    {} ({})",
        thousands(s.parameters),
        by_type.join(", ")
    );
    let _ = writeln!(
        o,
        "tract plan:    {} nodes after optimisation",
        s.optimized_nodes
    );
    o
}

fn write_grid(o: &mut String, p: &PriorConfig) {
    let _ = writeln!(
        o,
        "priors:        {} boxes; input {} px, feature maps [{}], boxes per cell [{}]",
        p.num_priors(),
        p.image_size,
        list(&p.feature_maps),
        list(&p.boxes_per_cell())
    );
    if let Some(steps) = &p.steps {
        let _ = writeln!(o, "               steps [{}] px", list(steps));
    }
    let scales = match &p.scales {
        PriorScales::Pixels {
            min_sizes,
            max_sizes,
        } => format!(
            "pixel sizes: min [{}], max [{}]",
            list(min_sizes),
            list(max_sizes)
        ),
        PriorScales::Linear { s_min, s_max } => format!("linear s_min {s_min}, s_max {s_max}"),
        PriorScales::Explicit { scales } => format!("explicit [{}]", list(scales)),
    };
    let ratios: Vec<String> = p
        .aspect_ratios
        .iter()
        .map(|r| format!("[{}]", list(r)))
        .collect();
    let _ = writeln!(o, "               scales: {scales}");
    let _ = writeln!(
        o,
        "               aspect ratios {}, clip {:?}",
        ratios.join(" "),
        p.clip
    );
}
