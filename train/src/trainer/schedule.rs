//! Learning-rate schedule: linear warm-up, then step decay (ssd.pytorch) or cosine.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decay {
    /// Multiply by `gamma` at each milestone (in optimizer steps), as ssd.pytorch's 80k/100k.
    Step { milestones: Vec<usize>, gamma: f64 },
    /// Half cosine from the base rate down to `min_factor` x base at the last step.
    Cosine { min_factor: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub base_lr: f64,
    /// Steps of linear warm-up from `warmup_factor` x base to base: a randomly initialised
    /// SSD diverges easily in its first steps at the full rate.
    pub warmup_steps: usize,
    pub warmup_factor: f64,
    pub total_steps: usize,
    pub decay: Decay,
}

impl LrSchedule {
    pub fn lr(&self, step: usize) -> f64 {
        let decay = match &self.decay {
            Decay::Step { milestones, gamma } => {
                gamma.powi(milestones.iter().filter(|&&m| step >= m).count() as i32)
            }
            Decay::Cosine { min_factor } => {
                let t = (step as f64 / self.total_steps.max(1) as f64).min(1.0);
                min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        };
        let warm = if step < self.warmup_steps {
            let t = step as f64 / self.warmup_steps as f64;
            self.warmup_factor + (1.0 - self.warmup_factor) * t
        } else {
            1.0
        };
        self.base_lr * decay * warm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_steps() {
        let s = LrSchedule {
            base_lr: 1e-3,
            warmup_steps: 10,
            warmup_factor: 0.1,
            total_steps: 100,
            decay: Decay::Step {
                milestones: vec![50, 80],
                gamma: 0.1,
            },
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-12);
        assert!((s.lr(5) - 5.5e-4).abs() < 1e-12);
        assert!((s.lr(10) - 1e-3).abs() < 1e-12);
        assert!((s.lr(50) - 1e-4).abs() < 1e-12);
        assert!((s.lr(99) - 1e-5).abs() < 1e-12);
    }

    #[test]
    fn cosine_ends_at_min() {
        let s = LrSchedule {
            base_lr: 1.0,
            warmup_steps: 0,
            warmup_factor: 1.0,
            total_steps: 100,
            decay: Decay::Cosine { min_factor: 0.01 },
        };
        assert!((s.lr(0) - 1.0).abs() < 1e-12);
        assert!((s.lr(50) - 0.505).abs() < 1e-9);
        assert!((s.lr(100) - 0.01).abs() < 1e-12);
    }
}
