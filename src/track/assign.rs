//! Track-to-detection assignment on a preallocated cost matrix.
//!
//! A pair may match only if its cost is below `limit`; among those, [`Method::Optimal`]
//! minimises the sum over matched pairs of `cost - limit` (what `lap.lapjv(cost, cost_limit)`
//! does in ByteTrack: a pair is worth matching when it beats leaving both sides unmatched).
//! It is the shortest-augmenting-path Hungarian algorithm with potentials on `rows` x
//! (`cols` + `rows`): each row has a private dummy column at cost `limit`, so a row may stay
//! unmatched, in O(rows² · (cols + rows)). [`Method::Greedy`] takes pairs in ascending cost
//! order (ties by row, then column) while both sides are free.

use serde::Deserialize;

/// How tracks and detections are paired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Minimum total cost (Hungarian), as ByteTrack's `lapjv`.
    #[default]
    Optimal,
    /// Cheapest pair first.
    Greedy,
}

/// Stands for "never": larger than any real cost, small enough that sums stay exact enough.
const FORBIDDEN: f64 = 1e9;

pub struct Assigner {
    max_rows: usize,
    max_cols: usize,
    cost: Vec<f64>,
    rows: usize,
    cols: usize,
    // Hungarian scratch, 1-based as the textbook algorithm.
    u: Vec<f64>,
    v: Vec<f64>,
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
    // Greedy scratch.
    pairs: Vec<(f64, u32, u32)>,
    row_taken: Vec<bool>,
    col_taken: Vec<bool>,
}

impl Assigner {
    pub fn new(max_rows: usize, max_cols: usize) -> Self {
        let width = max_cols + max_rows + 1;
        Assigner {
            max_rows,
            max_cols,
            cost: vec![0.0; max_rows * max_cols],
            rows: 0,
            cols: 0,
            u: vec![0.0; max_rows + 1],
            v: vec![0.0; width],
            p: vec![0; width],
            way: vec![0; width],
            minv: vec![0.0; width],
            used: vec![false; width],
            pairs: Vec::with_capacity(max_rows * max_cols),
            row_taken: vec![false; max_rows],
            col_taken: vec![false; max_cols],
        }
    }

    /// Fills the `rows` x `cols` matrix from `cost(row, col)`; `None` forbids the pair.
    /// Sizes beyond the capacity given to [`Assigner::new`] are a caller bug and are clamped.
    pub fn fill(
        &mut self,
        rows: usize,
        cols: usize,
        mut cost: impl FnMut(usize, usize) -> Option<f64>,
    ) {
        debug_assert!(rows <= self.max_rows && cols <= self.max_cols);
        self.rows = rows.min(self.max_rows);
        self.cols = cols.min(self.max_cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                self.cost[r * self.cols + c] = match cost(r, c) {
                    Some(x) if x.is_finite() => x,
                    _ => FORBIDDEN,
                };
            }
        }
    }

    /// Pairs `(row, col)` with cost below `limit`, appended to `out` (cleared first).
    pub fn solve(&mut self, method: Method, limit: f64, out: &mut Vec<(usize, usize)>) {
        out.clear();
        if self.rows == 0 || self.cols == 0 {
            return;
        }
        match method {
            Method::Optimal => self.hungarian(limit, out),
            Method::Greedy => self.greedy(limit, out),
        }
    }

    fn at(&self, r: usize, c: usize) -> f64 {
        self.cost[r * self.cols + c]
    }

    fn hungarian(&mut self, limit: f64, out: &mut Vec<(usize, usize)>) {
        let (n, m) = (self.rows, self.cols + self.rows);
        // Columns past the real ones are the dummies: row r's own one costs `limit`.
        let cost = |s: &Self, r: usize, c: usize| {
            if c < s.cols {
                s.at(r, c).min(FORBIDDEN)
            } else if c - s.cols == r {
                limit
            } else {
                FORBIDDEN
            }
        };
        self.u[..=n].fill(0.0);
        self.v[..=m].fill(0.0);
        self.p[..=m].fill(0);
        self.way[..=m].fill(0);
        for i in 1..=n {
            self.p[0] = i;
            let mut j0 = 0;
            self.minv[..=m].fill(f64::INFINITY);
            self.used[..=m].fill(false);
            loop {
                self.used[j0] = true;
                let i0 = self.p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                for j in 1..=m {
                    if !self.used[j] {
                        let cur = cost(self, i0 - 1, j - 1) - self.u[i0] - self.v[j];
                        if cur < self.minv[j] {
                            self.minv[j] = cur;
                            self.way[j] = j0;
                        }
                        if self.minv[j] < delta {
                            delta = self.minv[j];
                            j1 = j;
                        }
                    }
                }
                for j in 0..=m {
                    if self.used[j] {
                        self.u[self.p[j]] += delta;
                        self.v[j] -= delta;
                    } else {
                        self.minv[j] -= delta;
                    }
                }
                j0 = j1;
                if self.p[j0] == 0 {
                    break;
                }
            }
            loop {
                let j1 = self.way[j0];
                self.p[j0] = self.p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
        for j in 1..=self.cols {
            let i = self.p[j];
            if i != 0 && self.at(i - 1, j - 1) < limit {
                out.push((i - 1, j - 1));
            }
        }
        out.sort_unstable();
    }

    fn greedy(&mut self, limit: f64, out: &mut Vec<(usize, usize)>) {
        self.pairs.clear();
        for r in 0..self.rows {
            for c in 0..self.cols {
                let x = self.at(r, c);
                if x < limit {
                    self.pairs.push((x, r as u32, c as u32));
                }
            }
        }
        self.pairs
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        self.row_taken[..self.rows].fill(false);
        self.col_taken[..self.cols].fill(false);
        for &(_, r, c) in &self.pairs {
            let (r, c) = (r as usize, c as usize);
            if !self.row_taken[r] && !self.col_taken[c] {
                self.row_taken[r] = true;
                self.col_taken[c] = true;
                out.push((r, c));
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(m: &[&[f64]], limit: f64, method: Method) -> Vec<(usize, usize)> {
        let rows = m.len();
        let cols = m.first().map_or(0, |r| r.len());
        let mut a = Assigner::new(rows, cols);
        a.fill(rows, cols, |r, c| Some(m[r][c]));
        let mut out = Vec::new();
        a.solve(method, limit, &mut out);
        out
    }

    #[test]
    fn optimal_beats_greedy_where_greedy_is_wrong() {
        // Greedy takes (0,0) at 0.1 and leaves row 1 with 0.9; the optimum is 0.2 + 0.3.
        let m: &[&[f64]] = &[&[0.1, 0.2], &[0.3, 0.9]];
        assert_eq!(solve(m, 1.0, Method::Optimal), vec![(0, 1), (1, 0)]);
        assert_eq!(solve(m, 1.0, Method::Greedy), vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn costs_at_or_above_the_limit_never_match() {
        let m: &[&[f64]] = &[&[0.85, 0.2], &[0.9, 0.95]];
        assert_eq!(solve(m, 0.8, Method::Optimal), vec![(0, 1)]);
        assert_eq!(solve(m, 0.8, Method::Greedy), vec![(0, 1)]);
    }

    #[test]
    fn prefers_two_matches_only_when_they_beat_the_limit() {
        // (0,0)+(1,1) = 0.75 + 0.75 - 1.6 = -0.1 vs (0,1) alone 0.05 - 0.8 = -0.75.
        let m: &[&[f64]] = &[&[0.75, 0.05], &[0.01, 0.75]];
        assert_eq!(solve(m, 0.8, Method::Optimal), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn forbidden_pairs_and_rectangles() {
        let mut a = Assigner::new(3, 2);
        a.fill(3, 2, |r, c| (r != c).then_some(0.1 * (r + c) as f64));
        let mut out = Vec::new();
        a.solve(Method::Optimal, 0.8, &mut out);
        assert_eq!(out, vec![(0, 1), (1, 0)]);
        a.fill(0, 2, |_, _| Some(0.0));
        a.solve(Method::Optimal, 0.8, &mut out);
        assert!(out.is_empty());
    }

    /// Brute force over all partial matchings of a small matrix.
    fn best(m: &[Vec<f64>], limit: f64) -> f64 {
        fn go(m: &[Vec<f64>], r: usize, used: &mut Vec<bool>, limit: f64) -> f64 {
            if r == m.len() {
                return 0.0;
            }
            let mut b = go(m, r + 1, used, limit);
            for c in 0..used.len() {
                if !used[c] && m[r][c] < limit {
                    used[c] = true;
                    b = b.min(m[r][c] - limit + go(m, r + 1, used, limit));
                    used[c] = false;
                }
            }
            b
        }
        go(m, 0, &mut vec![false; m[0].len()], limit)
    }

    #[test]
    fn optimal_matches_brute_force() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..300 {
            let rows = 1 + (rnd() * 5.0) as usize;
            let cols = 1 + (rnd() * 5.0) as usize;
            let m: Vec<Vec<f64>> = (0..rows)
                .map(|_| (0..cols).map(|_| rnd()).collect())
                .collect();
            let mut a = Assigner::new(rows, cols);
            a.fill(rows, cols, |r, c| Some(m[r][c]));
            let mut out = Vec::new();
            a.solve(Method::Optimal, 0.8, &mut out);
            let got: f64 = out.iter().map(|&(r, c)| m[r][c] - 0.8).sum();
            assert!((got - best(&m, 0.8)).abs() < 1e-9, "{m:?}: {out:?}");
        }
    }
}
