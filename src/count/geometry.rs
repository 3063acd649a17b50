//! Plane geometry in frame pixels (y grows downwards, as in images): anchor points of boxes,
//! signed distance to a directed line, segment intersection, point-in-polygon.

use serde::{Deserialize, Serialize};

pub type Point = [f32; 2];

/// Which point of a box decides where an object is. Bottom-centre by default: where a person
/// stands or a car touches the road, which is what a line drawn on the ground means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    #[default]
    BottomCenter,
    Center,
    TopCenter,
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Anchor {
    pub fn of(self, b: &[f32; 4]) -> Point {
        let cx = (b[0] + b[2]) * 0.5;
        let cy = (b[1] + b[3]) * 0.5;
        match self {
            Anchor::BottomCenter => [cx, b[3]],
            Anchor::Center => [cx, cy],
            Anchor::TopCenter => [cx, b[1]],
            Anchor::TopLeft => [b[0], b[1]],
            Anchor::TopRight => [b[2], b[1]],
            Anchor::BottomLeft => [b[0], b[3]],
            Anchor::BottomRight => [b[2], b[3]],
        }
    }
}

fn sub(a: Point, b: Point) -> Point {
    [a[0] - b[0], a[1] - b[1]]
}

fn cross(a: Point, b: Point) -> f32 {
    a[0] * b[1] - a[1] * b[0]
}

fn dot(a: Point, b: Point) -> f32 {
    a[0] * b[0] + a[1] * b[1]
}

/// Signed distance of `p` from the line through `a` and `b`: positive on the right of A->B as
/// the image is seen (y down makes the plain cross product's sign the other way round).
pub fn signed_distance(a: Point, b: Point, p: Point) -> f32 {
    let d = sub(b, a);
    let len = dot(d, d).sqrt();
    cross(d, sub(p, a)) / len
}

/// Where the path `p -> q` meets the line through `a`, `b`, as a fraction along A->B
/// (0 at A, 1 at B); None when the path is parallel to the line.
pub fn crossing_param(a: Point, b: Point, p: Point, q: Point) -> Option<f32> {
    let d = sub(b, a);
    let r = sub(q, p);
    let denom = cross(d, r);
    if denom.abs() < 1e-9 {
        return None;
    }
    // Solve a + t d = p + s r for t.
    Some(cross(sub(p, a), r) / denom)
}

/// Distance from `p` to the segment `a`-`b`.
pub fn segment_distance(a: Point, b: Point, p: Point) -> f32 {
    let d = sub(b, a);
    let len2 = dot(d, d);
    let t = if len2 > 0.0 {
        (dot(sub(p, a), d) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let c = [a[0] + t * d[0], a[1] + t * d[1]];
    let e = sub(p, c);
    dot(e, e).sqrt()
}

/// Even-odd rule (points exactly on an edge may fall either way; the zone's band absorbs them).
pub fn inside_polygon(poly: &[Point], p: Point) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (pi, pj) = (poly[i], poly[j]);
        if (pi[1] > p[1]) != (pj[1] > p[1])
            && p[0] < (pj[0] - pi[0]) * (p[1] - pi[1]) / (pj[1] - pi[1]) + pi[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Distance from `p` to the polygon's boundary.
pub fn boundary_distance(poly: &[Point], p: Point) -> f32 {
    let mut best = f32::INFINITY;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        best = best.min(segment_distance(poly[j], poly[i], p));
        j = i;
    }
    best
}

/// Twice the signed area (shoelace).
pub fn doubled_area(poly: &[Point]) -> f32 {
    let mut s = 0.0;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        s += cross(poly[j], poly[i]);
        j = i;
    }
    s
}

/// Whether segments `p1-p2` and `q1-q2` cross (touching at an end point does not count).
fn segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let d1 = cross(sub(p2, p1), sub(q1, p1));
    let d2 = cross(sub(p2, p1), sub(q2, p1));
    let d3 = cross(sub(q2, q1), sub(p1, q1));
    let d4 = cross(sub(q2, q1), sub(p2, q1));
    ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
}

/// The first pair of non-adjacent edges that cross, by edge index.
pub fn self_intersection(poly: &[Point]) -> Option<(usize, usize)> {
    let n = poly.len();
    for i in 0..n {
        for j in i + 1..n {
            // adjacent edges share a vertex
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            if segments_cross(poly[i], poly[(i + 1) % n], poly[j], poly[(j + 1) % n]) {
                return Some((i, j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_of_a_downward_line_is_negative_x() {
        // A at the top, B at the bottom: walking down the image, the right hand points to -x.
        let (a, b) = ([10.0, 0.0], [10.0, 100.0]);
        assert!(signed_distance(a, b, [0.0, 50.0]) > 0.0);
        assert!(signed_distance(a, b, [20.0, 50.0]) < 0.0);
        assert_eq!(signed_distance(a, b, [15.0, 50.0]), -5.0);
    }

    #[test]
    fn crossing_parameter_is_where_the_path_meets_the_line() {
        let (a, b) = ([0.0, 0.0], [0.0, 100.0]);
        let t = crossing_param(a, b, [-5.0, 25.0], [5.0, 25.0]).unwrap();
        assert!((t - 0.25).abs() < 1e-6);
        let t = crossing_param(a, b, [-5.0, 150.0], [5.0, 150.0]).unwrap();
        assert!((t - 1.5).abs() < 1e-6);
        assert!(crossing_param(a, b, [1.0, 0.0], [1.0, 50.0]).is_none());
    }

    #[test]
    fn polygon_tests() {
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(inside_polygon(&sq, [5.0, 5.0]));
        assert!(!inside_polygon(&sq, [15.0, 5.0]));
        assert_eq!(boundary_distance(&sq, [5.0, 3.0]), 3.0);
        assert_eq!(doubled_area(&sq).abs(), 200.0);
        assert_eq!(self_intersection(&sq), None);
        let bow = [[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]];
        assert_eq!(self_intersection(&bow), Some((0, 2)));
        // concave L shape
        let l = [
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 4.0],
            [4.0, 4.0],
            [4.0, 10.0],
            [0.0, 10.0],
        ];
        assert!(inside_polygon(&l, [2.0, 8.0]));
        assert!(!inside_polygon(&l, [8.0, 8.0]));
        assert_eq!(self_intersection(&l), None);
    }

    #[test]
    fn anchors() {
        let b = [0.0, 0.0, 10.0, 20.0];
        assert_eq!(Anchor::BottomCenter.of(&b), [5.0, 20.0]);
        assert_eq!(Anchor::Center.of(&b), [5.0, 10.0]);
        assert_eq!(Anchor::TopRight.of(&b), [10.0, 0.0]);
    }
}
