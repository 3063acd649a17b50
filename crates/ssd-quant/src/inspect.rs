//! What tract really executes: the optimised model's matrix products and the type they
//! accumulate in. A QLinearConv that tract ran in float would show up here as an f32 kernel.

use std::collections::BTreeMap;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct KernelCensus {
    /// Matrix-product nodes accumulating in i32 (the int8 kernels).
    pub int_matmuls: usize,
    /// Matrix-product nodes accumulating in f32 or f16.
    pub float_matmuls: usize,
    /// Kernel implementations in use, with how many nodes use each ("avx2_mmm_i32_8x8": 12).
    pub kernels: BTreeMap<String, usize>,
    /// Every op type of the optimised model with its count.
    pub ops: BTreeMap<String, usize>,
}

impl KernelCensus {
    pub fn of(model: &TypedModel) -> KernelCensus {
        let mut c = KernelCensus::default();
        for node in model.nodes() {
            *c.ops.entry(node.op.name().to_string()).or_default() += 1;
            if let Some(mm) = node.op_as::<OptMatMul>() {
                let Some(first) = mm.mmm.first() else {
                    continue;
                };
                if first.internal_type().is_integer() {
                    c.int_matmuls += 1;
                } else {
                    c.float_matmuls += 1;
                }
                for k in &mm.mmm {
                    *c.kernels.entry(k.name().to_string()).or_default() += 1;
                }
            }
        }
        c
    }

    /// Float convolution kernels that bypass the matrix product (depthwise, direct).
    pub fn float_conv_ops(&self) -> usize {
        ["DepthWiseConv", "DirectSpatialConv", "BlockedConv", "Conv"]
            .iter()
            .map(|n| self.ops.get(*n).copied().unwrap_or(0))
            .sum()
    }
}

/// Loads and optimises an ONNX model in tract with the input fixed to `input_shape`.
pub fn optimised(
    proto: &tract_onnx::pb::ModelProto,
    input_shape: &[usize],
) -> TractResult<TypedModel> {
    tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact(input_shape).into())?
        .into_optimized()
}
