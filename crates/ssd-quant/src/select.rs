//! Which layers go int8, and how their weights are scaled.
//!
//! Manual mode: every layer except `--float-layers`. Auto mode: a layer goes int8 when its
//! int8 kernel plus the QuantizeLinear/DequantizeLinear it forces at float boundaries is faster
//! than the float layer, and its relative output error stays under `max_rel_err`. Boundaries
//! depend on the neighbours' choices, so the rule is applied until nothing changes (each pass
//! only removes layers, so it ends).
//!
//! Weight scales: per channel, per tensor, or (auto) per tensor for each layer where that is
//! measured faster and its error stays within `tensor_err_ratio` of the per-channel error.

use super::graph::{consumers, ConvSite};
use super::report::LayerReport;
use super::rewrite::WeightScale;
use super::QuantizeOptions;
use std::collections::HashSet;
use tract_onnx::pb::ModelProto;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightScaleMode {
    Channel,
    Tensor,
    Auto,
}

impl std::str::FromStr for WeightScaleMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "channel" => Ok(WeightScaleMode::Channel),
            "tensor" => Ok(WeightScaleMode::Tensor),
            "auto" => Ok(WeightScaleMode::Auto),
            _ => Err(format!(
                "unknown weight scaling {s:?} (channel, tensor or auto)"
            )),
        }
    }
}

impl std::fmt::Display for WeightScaleMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeightScaleMode::Channel => "channel",
            WeightScaleMode::Tensor => "tensor",
            WeightScaleMode::Auto => "auto",
        })
    }
}

/// The layers that become int8, and those of them with per-tensor weight scales.
pub struct Choice {
    pub int8: HashSet<String>,
    pub per_tensor: HashSet<String>,
}

/// The weight scaling of a layer under `opts`, and why (for the report).
fn weight_scale(l: &LayerReport, opts: &QuantizeOptions) -> (WeightScale, Option<String>) {
    match opts.weight_scale {
        WeightScaleMode::Channel => (WeightScale::Channel, None),
        WeightScaleMode::Tensor => (WeightScale::Tensor, None),
        WeightScaleMode::Auto => {
            let Some(tensor_ms) = l.times.int8_tensor_ms else {
                return (
                    WeightScale::Channel,
                    Some("per-channel: no per-tensor timing".into()),
                );
            };
            let err_ok = l.rel_err_tensor <= opts.max_rel_err
                && l.rel_err_tensor <= opts.tensor_err_ratio * l.rel_err;
            if err_ok && tensor_ms < l.times.int8_ms {
                (WeightScale::Tensor, Some("per-tensor".into()))
            } else if !err_ok {
                (
                    WeightScale::Channel,
                    Some(format!(
                        "per-channel: per-tensor error {:.4}",
                        l.rel_err_tensor
                    )),
                )
            } else {
                (
                    WeightScale::Channel,
                    Some("per-channel: per-tensor not faster".into()),
                )
            }
        }
    }
}

/// The relative output error of a layer with the weight scaling it was given.
fn rel_err(l: &LayerReport) -> f32 {
    match l.weights {
        WeightScale::Tensor => l.rel_err_tensor,
        WeightScale::Channel => l.rel_err,
    }
}

/// The int8 kernel time of a layer with the weight scaling it was given.
fn int8_ms(l: &LayerReport) -> f64 {
    match l.weights {
        WeightScale::Tensor => l.times.int8_tensor_ms.unwrap_or(l.times.int8_ms),
        WeightScale::Channel => l.times.int8_ms,
    }
}

pub fn choose(
    model: &ModelProto,
    sites: &[ConvSite],
    layers: &mut [LayerReport],
    opts: &QuantizeOptions,
) -> Choice {
    let mut notes: Vec<Option<String>> = Vec::with_capacity(layers.len());
    for l in layers.iter_mut() {
        let (w, note) = weight_scale(l, opts);
        l.weights = w;
        notes.push(note);
    }
    let forced_float: HashSet<&str> = opts.float_layers.iter().map(|s| s.as_str()).collect();
    let forced_int8: HashSet<&str> = opts.int8_layers.iter().map(|s| s.as_str()).collect();
    let mut on: Vec<bool> = vec![false; sites.len()];
    for (i, (s, l)) in sites.iter().zip(layers.iter_mut()).enumerate() {
        let t = &l.times;
        (on[i], l.reason) = if forced_float.contains(s.name.as_str()) {
            (false, "forced float (--float-layers)".into())
        } else if !opts.auto {
            (true, "int8 (all layers)".into())
        } else if forced_int8.contains(s.name.as_str()) {
            (true, "forced int8 (--int8-layers)".into())
        } else if rel_err(l) > opts.max_rel_err {
            (
                false,
                format!("float: int8 error {:.3} > {}", rel_err(l), opts.max_rel_err),
            )
        } else if int8_ms(l) >= t.float_ms {
            (
                false,
                format!(
                    "float: int8 kernel slower ({:.2} vs {:.2} ms)",
                    int8_ms(l),
                    t.float_ms
                ),
            )
        } else {
            (
                true,
                format!("int8: faster ({:.2} vs {:.2} ms)", int8_ms(l), t.float_ms),
            )
        };
    }
    if opts.auto {
        let graph = model.graph.as_ref().expect("model has a graph");
        let users = consumers(graph);
        let producer: Vec<Option<usize>> = sites
            .iter()
            .map(|s| sites.iter().position(|p| p.output == s.input))
            .collect();
        loop {
            let mut changed = false;
            for i in 0..sites.len() {
                let s = &sites[i];
                if !on[i] || forced_int8.contains(s.name.as_str()) {
                    continue;
                }
                let t = &layers[i].times;
                let kernel_ms = int8_ms(&layers[i]);
                let needs_q = !producer[i].is_some_and(|p| on[p]);
                let out_users = users
                    .get(s.output.as_str())
                    .map(|u| u.as_slice())
                    .unwrap_or(&[]);
                let needs_dq = graph.output.iter().any(|o| o.name == s.output)
                    || out_users.iter().any(|&n| {
                        !sites
                            .iter()
                            .enumerate()
                            .any(|(j, c)| on[j] && c.conv_index == n && c.input == s.output)
                    });
                let cost = kernel_ms
                    + if needs_q { t.quantize_ms } else { 0.0 }
                    + if needs_dq { t.dequantize_ms } else { 0.0 };
                if cost >= t.float_ms {
                    on[i] = false;
                    changed = true;
                    layers[i].reason = format!(
                        "float: int8 with its quantize/dequantize slower ({cost:.2} vs {:.2} ms)",
                        t.float_ms
                    );
                }
            }
            if !changed {
                break;
            }
        }
    }
    let mut choice = Choice {
        int8: HashSet::new(),
        per_tensor: HashSet::new(),
    };
    for ((l, on), note) in layers.iter_mut().zip(&on).zip(notes) {
        l.int8 = *on;
        if !on {
            continue;
        }
        choice.int8.insert(l.name.clone());
        if l.weights == WeightScale::Tensor {
            choice.per_tensor.insert(l.name.clone());
        }
        if let Some(note) = note {
            l.reason = format!("{}; {note}", l.reason);
        }
    }
    choice
}
