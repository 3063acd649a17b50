//! MultiBox loss (SSD paper, ssd.pytorch's `MultiBoxLoss`): smooth L1 over positive priors,
//! softmax cross-entropy over positives and the hardest negatives (3 per positive, per image),
//! both divided by the number of positives in the batch.

use tch::{Kind, Reduction, Tensor};

#[derive(Clone, Copy, Debug)]
pub struct MultiBoxLoss {
    /// Negatives kept per positive (3 in the paper).
    pub neg_pos_ratio: i64,
    /// Weight of the localisation term (alpha, 1 in the paper).
    pub alpha: f64,
}

impl Default for MultiBoxLoss {
    fn default() -> Self {
        Self {
            neg_pos_ratio: 3,
            alpha: 1.0,
        }
    }
}

/// Both terms already divided by `num_pos` (0 when there is no positive, never NaN).
pub struct LossParts {
    pub loc: Tensor,
    pub conf: Tensor,
    pub num_pos: i64,
}

impl LossParts {
    pub fn total(&self, alpha: f64) -> Tensor {
        &self.conf + &self.loc * alpha
    }
}

impl MultiBoxLoss {
    /// `loc_p` [B,P,4], `conf_p` [B,P,C] logits; `loc_t` [B,P,4] encoded targets, `conf_t` [B,P]
    /// int64 class targets (0 background) as `ssd_core::ssd::match_priors` fills them.
    pub fn compute(
        &self,
        loc_p: &Tensor,
        conf_p: &Tensor,
        loc_t: &Tensor,
        conf_t: &Tensor,
    ) -> LossParts {
        let num_priors = conf_t.size()[1];
        let pos = conf_t.gt(0);
        let num_pos = i64::try_from(pos.sum(Kind::Int64)).unwrap_or(0);

        // Targets of non-positive priors are never used; zero them so a stray inf/NaN there
        // cannot leak into the gradient through 0 * NaN.
        let pos4 = pos.unsqueeze(2).expand_as(loc_p);
        let loc_t = loc_t.where_self(&pos4, &Tensor::zeros_like(loc_t));
        let loss_l = loc_p
            .smooth_l1_loss(&loc_t, Reduction::None, 1.0)
            .where_self(&pos4, &Tensor::zeros_like(loc_p))
            .sum(Kind::Float);

        // Per-prior cross-entropy: logsumexp - logit of the target class. For negatives that is
        // -log softmax(background), the mining score.
        let target_logit = conf_p.gather(2, &conf_t.unsqueeze(2), false).squeeze_dim(2);
        let ce = conf_p.logsumexp([2], false) - target_logit;

        // Rank the negatives of each image by their loss (positives score 0, as ssd.pytorch)
        // and keep the top neg_pos_ratio x positives of that image.
        let mining = ce
            .detach()
            .where_self(&pos.logical_not(), &Tensor::zeros_like(&ce));
        let (_, order) = mining.sort(1, true);
        let (_, rank) = order.sort(1, false);
        let pos_per_image = pos.sum_dim_intlist(1, true, Kind::Int64);
        let num_neg = (pos_per_image * self.neg_pos_ratio).clamp_max(num_priors - 1);
        let neg = rank.lt_tensor(&num_neg);
        let selected = pos.logical_or(&neg);
        let loss_c = ce
            .where_self(&selected, &Tensor::zeros_like(&ce))
            .sum(Kind::Float);

        let n = num_pos.max(1) as f64;
        LossParts {
            loc: loss_l / n,
            conf: loss_c / n,
            num_pos,
        }
    }
}
