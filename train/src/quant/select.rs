//! Which layers go int8.
//!
//! Manual mode: every layer except `--float-layers`. Auto mode: a layer goes int8 when its
//! int8 kernel plus the QuantizeLinear/DequantizeLinear it forces at float boundaries is faster
//! than the float layer, and its relative output error stays under `max_rel_err`. Boundaries
//! depend on the neighbours' choices, so the rule is applied until nothing changes (each pass
//! only removes layers, so it ends).

use super::graph::{consumers, ConvSite};
use super::report::LayerReport;
use super::QuantizeOptions;
use std::collections::HashSet;
use tract_onnx::pb::ModelProto;

pub fn choose(
    model: &ModelProto,
    sites: &[ConvSite],
    layers: &mut [LayerReport],
    opts: &QuantizeOptions,
) -> HashSet<String> {
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
        } else if l.rel_err > opts.max_rel_err {
            (
                false,
                format!("float: int8 error {:.3} > {}", l.rel_err, opts.max_rel_err),
            )
        } else if t.int8_ms >= t.float_ms {
            (
                false,
                format!(
                    "float: int8 kernel slower ({:.2} vs {:.2} ms)",
                    t.int8_ms, t.float_ms
                ),
            )
        } else {
            (
                true,
                format!("int8: faster ({:.2} vs {:.2} ms)", t.int8_ms, t.float_ms),
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
                let cost = t.int8_ms
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
    for (l, on) in layers.iter_mut().zip(&on) {
        l.int8 = *on;
    }
    sites
        .iter()
        .zip(&on)
        .filter(|(_, on)| **on)
        .map(|(s, _)| s.name.clone())
        .collect()
}
