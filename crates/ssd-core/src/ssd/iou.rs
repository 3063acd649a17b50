use super::CornerBox;

/// Jaccard overlap of two corner boxes (no +1 pixel convention). Degenerate pairs with no
/// union give 0 rather than NaN, so a bad box cannot poison a max over overlaps; an inverted
/// box (a tracker's prediction gone wrong) has no area rather than a negative one.
pub fn iou(a: &CornerBox, b: &CornerBox) -> f32 {
    let inter = intersection(a, b);
    let clamped = |r: &CornerBox| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = clamped(a) + clamped(b) - inter;
    if union > 0.0 && union.is_finite() {
        inter / union
    } else {
        0.0
    }
}

#[inline]
pub(crate) fn area(b: &CornerBox) -> f32 {
    (b[2] - b[0]) * (b[3] - b[1])
}

#[inline]
pub(crate) fn intersection(a: &CornerBox, b: &CornerBox) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    w * h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_overlaps() {
        let a = [0.0, 0.0, 1.0, 1.0];
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &[2.0, 2.0, 3.0, 3.0]), 0.0);
        // Half-overlapping squares: inter 0.5, union 1.5.
        assert!((iou(&a, &[0.5, 0.0, 1.5, 1.0]) - 1.0 / 3.0).abs() < 1e-7);
        assert_eq!(iou(&[0.2, 0.2, 0.2, 0.2], &[0.2, 0.2, 0.2, 0.2]), 0.0);
    }
}
