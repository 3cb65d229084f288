//! Min/max bucket downsampling: a long series cut to about as many points as a chart has pixels, keeping every
//! spike. Each time bucket keeps its lowest and its highest sample, in time order (the M4 idea without first/last,
//! Jugel et al., "M4: A Visualization-Oriented Time Series Data Aggregation", VLDB 2014), so a one-second
//! evaluation spike in a 24-hour chart still reaches its true height. Ask for twice the chart's width in points:
//! two per pixel column (its min and its max).
//!
//! Gaps (a lost GPU, an exited process) survive as a `None` point so a chart breaks its line there.

use serde::{Deserialize, Serialize};

/// A downsampled series as columns: `t[i]` (ms since the epoch) and `v[i]` (bytes, `None` = gap).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Points {
    pub t: Vec<u64>,
    pub v: Vec<Option<u64>>,
}

impl Points {
    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    fn push(&mut self, t: u64, v: Option<u64>) {
        self.t.push(t);
        self.v.push(v);
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    min: Option<(u64, u64)>,
    max: Option<(u64, u64)>,
    gap: Option<u64>,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        min: None,
        max: None,
        gap: None,
    };

    fn add(&mut self, t: u64, v: Option<u64>) {
        match v {
            None => {
                self.gap.get_or_insert(t);
            }
            Some(v) => {
                if self.min.is_none_or(|(_, m)| v < m) {
                    self.min = Some((t, v));
                }
                if self.max.is_none_or(|(_, m)| v > m) {
                    self.max = Some((t, v));
                }
            }
        }
    }

    fn flush(&self, out: &mut Points) {
        // At most three points (min, max, first gap), written in time order without allocating.
        let mut pts = [(u64::MAX, None); 3];
        let mut n = 0;
        if let Some((t, v)) = self.min {
            pts[n] = (t, Some(v));
            n += 1;
        }
        if let Some((t, v)) = self.max {
            if self.min.map(|m| m.0) != Some(t) {
                pts[n] = (t, Some(v));
                n += 1;
            }
        }
        if let Some(t) = self.gap {
            pts[n] = (t, None);
            n += 1;
        }
        let pts = &mut pts[..n];
        pts.sort_unstable_by_key(|p| p.0);
        for (t, v) in pts.iter() {
            out.push(*t, *v);
        }
    }
}

/// Downsamples `len` samples in time order, all within `[from, to]`, into at most `points` points (at least 2);
/// `sample(i)` gives sample `i` as `(t, value)`. A series no longer than `points` is returned unchanged.
pub fn min_max(
    len: usize,
    sample: impl Fn(usize) -> (u64, Option<u64>),
    from: u64,
    to: u64,
    points: usize,
) -> Points {
    let mut mm = MinMax::new(len, from, to, points);
    for i in 0..len {
        let (t, v) = sample(i);
        mm.push(t, v);
    }
    mm.finish()
}

/// [`min_max`] fed one sample at a time, so a caller can walk its storage (ring slices) in the tightest loop.
pub struct MinMax {
    out: Points,
    pass_through: bool,
    from: u64,
    span: u128,
    buckets: u64,
    current: u64,
    next: u64,
    bucket: Bucket,
}

impl MinMax {
    /// For `len` samples within `[from, to]`, down to at most `points` points.
    pub fn new(len: usize, from: u64, to: u64, points: usize) -> Self {
        let buckets = (points / 2).max(1) as u64;
        let pass_through = len <= points.max(2);
        let mut mm = MinMax {
            out: Points::default(),
            pass_through,
            from,
            // Bucket b covers [from + b·span/buckets, from + (b+1)·span/buckets): buckets line up with pixel
            // columns whatever the sampling rate. Boundaries are computed once per bucket, not per sample.
            span: u128::from(to.saturating_sub(from)) + 1,
            buckets,
            current: 0,
            next: 0,
            bucket: Bucket::EMPTY,
        };
        let reserve = if pass_through {
            len
        } else {
            2 * buckets as usize + 2
        };
        mm.out.t.reserve(reserve);
        mm.out.v.reserve(reserve);
        mm.next = mm.boundary(1);
        mm
    }

    fn boundary(&self, b: u64) -> u64 {
        self.from
            .saturating_add((u128::from(b) * self.span / u128::from(self.buckets)) as u64)
    }

    #[inline]
    pub fn push(&mut self, t: u64, v: Option<u64>) {
        if self.pass_through {
            self.out.push(t, v);
            return;
        }
        if t >= self.next {
            self.advance(t);
        }
        self.bucket.add(t, v);
    }

    #[cold]
    fn advance(&mut self, t: u64) {
        self.bucket.flush(&mut self.out);
        self.bucket = Bucket::EMPTY;
        while t >= self.next && self.current + 1 < self.buckets {
            self.current += 1;
            self.next = self.boundary(self.current + 1);
        }
        if self.current + 1 >= self.buckets {
            self.next = u64::MAX;
        }
    }

    /// Feeds a run of samples held as columns: times `t`, values `u`, and `ok(v[i])` telling whether `u[i]` is
    /// known. Equivalent to calling [`push`](Self::push) for each, but each bucket's part is found by binary
    /// search on `t` and scanned in a tight loop over plain slices.
    pub fn push_columns<V: Copy>(&mut self, t: &[u64], u: &[u64], v: &[V], ok: impl Fn(V) -> bool) {
        let n = t.len().min(u.len()).min(v.len());
        let (mut t, mut u, mut v) = (&t[..n], &u[..n], &v[..n]);
        if self.pass_through {
            for i in 0..n {
                self.out.push(t[i], ok(v[i]).then_some(u[i]));
            }
            return;
        }
        while !t.is_empty() {
            if t[0] >= self.next {
                self.advance(t[0]);
            }
            // Samples of the current bucket: those before the next boundary (times are in order).
            let end = t.partition_point(|x| *x < self.next).max(1);
            let b = &mut self.bucket;
            for i in 0..end {
                if ok(v[i]) {
                    let x = u[i];
                    if b.min.is_none_or(|(_, m)| x < m) {
                        b.min = Some((t[i], x));
                    }
                    if b.max.is_none_or(|(_, m)| x > m) {
                        b.max = Some((t[i], x));
                    }
                } else if b.gap.is_none() {
                    b.gap = Some(t[i]);
                }
            }
            (t, u, v) = (&t[end..], &u[end..], &v[end..]);
        }
    }

    pub fn finish(mut self) -> Points {
        if !self.pass_through {
            self.bucket.flush(&mut self.out);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_sample_spike_survives_a_thousandfold_reduction() {
        let n = 86_400u64;
        let samples: Vec<(u64, Option<u64>)> = (0..n)
            .map(|i| (i * 1000, Some(if i == 51_234 { 900 } else { 100 + i % 7 })))
            .collect();
        let p = min_max(samples.len(), |i| samples[i], 0, (n - 1) * 1000, 200);
        assert!(p.len() <= 200, "{}", p.len());
        assert!(p.v.contains(&Some(900)));
        assert!(p.v.contains(&Some(100)));
        assert!(p.t.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn gaps_are_kept_as_none() {
        let samples: Vec<(u64, Option<u64>)> = (0..10_000u64)
            .map(|i| {
                (
                    i,
                    if (5000..5010).contains(&i) {
                        None
                    } else {
                        Some(i)
                    },
                )
            })
            .collect();
        let p = min_max(samples.len(), |i| samples[i], 0, 9_999, 100);
        assert!(p.v.contains(&None));
    }

    #[test]
    fn columns_and_single_pushes_agree() {
        let t: Vec<u64> = (0..50_000u64).map(|i| i * 5 + (i % 5)).collect();
        let u: Vec<u64> = (0..50_000u64).map(|i| (i * 7919) % 10_007).collect();
        let v: Vec<bool> = (0..50_000u64).map(|i| i % 97 != 0).collect();
        let (from, to) = (t[0], t[t.len() - 1]);
        let mut a = MinMax::new(t.len(), from, to, 700);
        for i in 0..t.len() {
            a.push(t[i], v[i].then_some(u[i]));
        }
        let mut b = MinMax::new(t.len(), from, to, 700);
        let split = 31_337;
        b.push_columns(&t[..split], &u[..split], &v[..split], |x| x);
        b.push_columns(&t[split..], &u[split..], &v[split..], |x| x);
        let (a, b) = (a.finish(), b.finish());
        let first = (0..a.len().min(b.len())).find(|i| a.t[*i] != b.t[*i] || a.v[*i] != b.v[*i]);
        assert!(
            a == b,
            "lengths {} {}, first difference at {first:?}: {:?} vs {:?}",
            a.len(),
            b.len(),
            first.map(|i| (a.t[i], a.v[i])),
            first.map(|i| (b.t[i], b.v[i]))
        );
    }

    #[test]
    fn short_series_pass_through() {
        let samples = [(1, Some(5)), (2, None), (3, Some(7))];
        let p = min_max(samples.len(), |i| samples[i], 0, 10, 100);
        assert_eq!(p.t, vec![1, 2, 3]);
        assert_eq!(p.v, vec![Some(5), None, Some(7)]);
    }
}
