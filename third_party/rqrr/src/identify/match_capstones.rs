use crate::CapStone;

#[derive(Debug, Clone)]
pub struct CapStoneGroup(pub CapStone, pub CapStone, pub CapStone);

#[derive(Clone, Copy, Debug, PartialEq)]
struct Neighbor {
    index: usize,
    /// The distance through the capstone's own perspective, and through its affine frame.
    distance: [f64; 2],
}

/// Return each pair Capstone indexes that are likely to be from a QR code
/// Ordered from most symmetric to least symmetric
pub fn find_and_rank_possible_neighbors(capstones: &[CapStone], idx: usize) -> Vec<(usize, usize)> {
    const VIABILITY_THRESHOLD: f64 = 0.25;

    let (hlist, vlist) = find_possible_neighbors(capstones, idx);
    let mut res = Vec::new();
    struct NeighborSet {
        score: f64,
        h_index: usize,
        v_index: usize,
    }
    /* Test each possible grouping */
    for hn in hlist {
        for vn in vlist.iter() {
            // phantom-sync: symmetric under either model of the capstone (see
            // `find_possible_neighbors`).
            let symmetry = |h: f64, v: f64| (1.0 - h.min(v) / h.max(v)).abs();
            let score = symmetry(hn.distance[0], vn.distance[0])
                .min(symmetry(hn.distance[1], vn.distance[1]));
            if score < VIABILITY_THRESHOLD {
                res.push(NeighborSet {
                    score,
                    h_index: hn.index,
                    v_index: vn.index,
                });
            }
        }
    }

    res.sort_unstable_by(|a, b| {
        (a.score)
            .partial_cmp(&(b.score))
            .expect("Neighbor distance should never cause a div by 0")
    });
    res.iter().map(|n| (n.h_index, n.v_index)).collect()
}

fn find_possible_neighbors(capstones: &[CapStone], idx: usize) -> (Vec<Neighbor>, Vec<Neighbor>) {
    let cap = &capstones[idx];
    let mut hlist = Vec::new();
    let mut vlist = Vec::new();

    /* Look for potential neighbours by examining the relative gradients
     * from this capstone to others.
     */
    #[allow(clippy::needless_range_loop)]
    for others_idx in 0..capstones.len() {
        if others_idx == idx {
            continue;
        }

        let cmp_cap = &capstones[others_idx];

        // phantom-sync: a capstone's perspective comes from four whole-pixel corners; a
        // pixel off on a small capstone tilts it enough to put a neighbour 170 pixels
        // away out of line. Its affine frame (the mean of opposite sides) does not
        // amplify that error, while the perspective follows a code held at an angle:
        // a neighbour in line under either counts.
        let (pu, pv) = cap.c.unmap(&cmp_cap.center);
        let projective = ((pu - 3.5).abs(), (pv - 3.5).abs());
        let affine = affine_offset(cap, &cmp_cap.center);
        let models = [projective, affine];

        if models.iter().any(|&(u, v)| u < 0.2f64 * v) {
            hlist.push(Neighbor {
                index: others_idx,
                distance: [projective.1, affine.1],
            });
        }

        if models.iter().any(|&(u, v)| v < 0.2f64 * u) {
            vlist.push(Neighbor {
                index: others_idx,
                distance: [projective.0, affine.0],
            });
        }
    }

    (hlist, vlist)
}

/// How far `point` lies from `cap`'s centre along its two sides, in modules (absolute).
fn affine_offset(cap: &CapStone, point: &crate::Point) -> (f64, f64) {
    let [c0, c1, c2, c3] = cap.corners.map(|p| (f64::from(p.x), f64::from(p.y)));
    let (ux, uy) = ((c1.0 - c0.0 + c2.0 - c3.0) / 14.0, (c1.1 - c0.1 + c2.1 - c3.1) / 14.0);
    let (vx, vy) = ((c3.0 - c0.0 + c2.0 - c1.0) / 14.0, (c3.1 - c0.1 + c2.1 - c1.1) / 14.0);
    let dx = f64::from(point.x) - (c0.0 + c1.0 + c2.0 + c3.0) / 4.0;
    let dy = f64::from(point.y) - (c0.1 + c1.1 + c2.1 + c3.1) / 4.0;
    let det = ux * vy - uy * vx;
    if det.abs() < f64::EPSILON {
        return (f64::INFINITY, f64::INFINITY);
    }
    (((dx * vy - dy * vx) / det).abs(), ((ux * dy - uy * dx) / det).abs())
}
