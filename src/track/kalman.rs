//! Constant-velocity Kalman filter on `[cx, cy, aspect, h]`, as SORT/DeepSORT/ByteTrack use it.
//!
//! State: the measurement and its velocity, `[cx, cy, a, h, vcx, vcy, va, vh]`. Noise scales
//! with the box height (ByteTrack's `std_weight_position = 1/20`, `std_weight_velocity =
//! 1/160`), so a large near box and a small far one are equally sure in relative terms.
//! The measurement matrix picks the first four components, so `H P Hᵀ` and `P Hᵀ` are slices of
//! `P`: no matrix of `H` is ever formed. Fixed-size arrays: nothing here allocates.

// Index loops read like the matrix algebra they implement.
#![allow(clippy::needless_range_loop)]

const WEIGHT_POSITION: f64 = 1.0 / 20.0;
const WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

pub type Measurement = [f64; 4];

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KalmanBox {
    mean: [f64; 8],
    cov: [[f64; 8]; 8],
}

/// `[x0, y0, x1, y1]` -> `[cx, cy, w / h, h]`. The caller guarantees `h > 0`.
pub fn to_measurement(b: [f32; 4]) -> Measurement {
    let (w, h) = ((b[2] - b[0]) as f64, (b[3] - b[1]) as f64);
    [
        (b[0] as f64 + b[2] as f64) / 2.0,
        (b[1] as f64 + b[3] as f64) / 2.0,
        w / h,
        h,
    ]
}

impl KalmanBox {
    pub fn new(z: Measurement) -> Self {
        let h = z[3];
        let std = [
            2.0 * WEIGHT_POSITION * h,
            2.0 * WEIGHT_POSITION * h,
            1e-2,
            2.0 * WEIGHT_POSITION * h,
            10.0 * WEIGHT_VELOCITY * h,
            10.0 * WEIGHT_VELOCITY * h,
            1e-5,
            10.0 * WEIGHT_VELOCITY * h,
        ];
        let mut cov = [[0.0; 8]; 8];
        for (i, s) in std.iter().enumerate() {
            cov[i][i] = s * s;
        }
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&z);
        KalmanBox { mean, cov }
    }

    /// A new filter at `z` already moving by `velocity` (pixels per frame in x and y).
    pub fn with_velocity(z: Measurement, velocity: [f64; 2]) -> Self {
        let mut k = KalmanBox::new(z);
        k.mean[4] = velocity[0];
        k.mean[5] = velocity[1];
        k
    }

    /// One frame ahead. `hold_height` zeroes the height velocity first, as ByteTrack does for
    /// tracks that coast unseen, so a shrinking box does not vanish while it is lost.
    pub fn predict(&mut self, hold_height: bool) {
        if hold_height {
            self.mean[7] = 0.0;
        }
        let h = self.mean[3];
        let q = [
            WEIGHT_POSITION * h,
            WEIGHT_POSITION * h,
            1e-2,
            WEIGHT_POSITION * h,
            WEIGHT_VELOCITY * h,
            WEIGHT_VELOCITY * h,
            1e-5,
            WEIGHT_VELOCITY * h,
        ];
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4];
        }
        // P <- F P Fᵀ + Q with F = [[I, I], [0, I]]: first rows (P F ᵀ), then columns.
        let p = &mut self.cov;
        for row in p.iter_mut() {
            for j in 0..4 {
                row[j] += row[j + 4];
            }
        }
        for i in 0..4 {
            for j in 0..8 {
                p[i][j] += p[i + 4][j];
            }
        }
        for (i, s) in q.iter().enumerate() {
            p[i][i] += s * s;
        }
    }

    /// Folds in a measurement. Returns false (and leaves the state unchanged) if the innovation
    /// covariance is not positive definite, which only a corrupt state can cause.
    pub fn update(&mut self, z: Measurement) -> bool {
        let h = self.mean[3];
        let r = [
            WEIGHT_POSITION * h,
            WEIGHT_POSITION * h,
            1e-1,
            WEIGHT_POSITION * h,
        ];
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            s[i][..4].copy_from_slice(&self.cov[i][..4]);
            s[i][i] += r[i] * r[i];
        }
        let Some(l) = cholesky4(&s) else {
            return false;
        };
        // Gain K = P Hᵀ S⁻¹ (8x4), row by row: solve S kᵀ = (P Hᵀ)ᵀ row.
        let mut k = [[0.0; 4]; 8];
        for (i, ki) in k.iter_mut().enumerate() {
            let mut b = [0.0; 4];
            b.copy_from_slice(&self.cov[i][..4]);
            *ki = chol_solve4(&l, b);
        }
        let mut innov = [0.0; 4];
        for j in 0..4 {
            innov[j] = z[j] - self.mean[j];
        }
        for (i, ki) in k.iter().enumerate() {
            self.mean[i] += (0..4).map(|j| ki[j] * innov[j]).sum::<f64>();
        }
        // P <- P - K S Kᵀ, where K S = P Hᵀ, so P <- P - K (H P).
        let mut hp = [[0.0; 8]; 4];
        for (j, row) in hp.iter_mut().enumerate() {
            *row = self.cov[j];
        }
        for i in 0..8 {
            for c in 0..8 {
                self.cov[i][c] -= (0..4).map(|j| k[i][j] * hp[j][c]).sum::<f64>();
            }
        }
        true
    }

    pub fn measurement(&self) -> Measurement {
        [self.mean[0], self.mean[1], self.mean[2], self.mean[3]]
    }

    /// The estimate as `[x0, y0, x1, y1]`.
    pub fn bbox(&self) -> [f32; 4] {
        let [cx, cy, a, h] = self.measurement();
        let w = a * h;
        [
            (cx - w / 2.0) as f32,
            (cy - h / 2.0) as f32,
            (cx + w / 2.0) as f32,
            (cy + h / 2.0) as f32,
        ]
    }

    pub fn is_finite(&self) -> bool {
        self.mean.iter().all(|v| v.is_finite())
    }
}

fn cholesky4(s: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = s[i][i] - sum;
                if !d.is_finite() || d <= 0.0 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (s[i][j] - sum) / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
fn chol_solve4(l: &[[f64; 4]; 4], b: [f64; 4]) -> [f64; 4] {
    let mut y = [0.0; 4];
    for i in 0..4 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 4];
    for i in (0..4).rev() {
        x[i] = (y[i] - (i + 1..4).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_velocity() {
        let mut kf = KalmanBox::new(to_measurement([0.0, 0.0, 20.0, 40.0]));
        for t in 1..30 {
            kf.predict(false);
            let x = 3.0 * t as f32;
            assert!(kf.update(to_measurement([x, 0.0, x + 20.0, 40.0])));
        }
        kf.predict(false);
        let b = kf.bbox();
        assert!((b[0] - 90.0).abs() < 0.5, "predicted {b:?}");
        assert!((b[3] - 40.0).abs() < 0.5, "predicted {b:?}");
    }

    #[test]
    fn measurement_round_trips() {
        let b = [10.0, 20.0, 50.0, 100.0];
        let kf = KalmanBox::new(to_measurement(b));
        assert_eq!(kf.bbox(), b);
    }

    #[test]
    fn covariance_stays_symmetric_and_positive() {
        let mut kf = KalmanBox::new(to_measurement([0.0, 0.0, 20.0, 40.0]));
        for t in 0..200 {
            kf.predict(t % 7 == 0);
            if t % 3 != 0 {
                kf.update(to_measurement([t as f32, 0.0, t as f32 + 20.0, 40.0]));
            }
        }
        for i in 0..8 {
            assert!(kf.cov[i][i] > 0.0);
            for j in 0..8 {
                assert!((kf.cov[i][j] - kf.cov[j][i]).abs() < 1e-6 * (1.0 + kf.cov[i][i].abs()));
            }
        }
    }
}
