//! [`Ranges`]: a set of byte offsets kept as sorted, disjoint, non-adjacent half-open ranges.
//! The local tier tracks which bytes of a value are pulled and which are dirty with it, so both
//! are exact to the byte yet cost nothing for the common whole-value case.

use std::ops::Range;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<Range<usize>>);

impl Ranges {
    pub fn new() -> Self {
        Self::default()
    }

    /// The set holding exactly `range` (empty if `range` is).
    pub fn of(range: Range<usize>) -> Self {
        let mut set = Self::new();
        set.insert(range);
        set
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.0.iter().cloned()
    }

    /// Adds every offset of `range`, merging with touching or overlapping ranges.
    pub fn insert(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        // Ranges entirely before / after `range` (not even touching) stay as they are.
        let first = self.0.partition_point(|r| r.end < range.start);
        let last = self.0.partition_point(|r| r.start <= range.end);
        let mut merged = range;
        if first < last {
            merged.start = merged.start.min(self.0[first].start);
            merged.end = merged.end.max(self.0[last - 1].end);
        }
        self.0.splice(first..last, [merged]);
    }

    /// Removes every offset at or past `end`.
    pub fn truncate(&mut self, end: usize) {
        self.0.retain_mut(|r| {
            r.end = r.end.min(end);
            r.start < r.end
        });
    }

    /// Whether every offset of `range` is in the set.
    pub fn contains(&self, range: Range<usize>) -> bool {
        range.is_empty() || self.gaps(range).next().is_none()
    }

    /// The parts of `range` not in the set, in order.
    pub fn gaps(&self, range: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
        let mut next = range.start;
        let end = range.end;
        let first = self.0.partition_point(|r| r.end <= range.start);
        self.0[first..]
            .iter()
            .take_while(move |r| r.start < end)
            .map(Some)
            .chain([None])
            .filter_map(move |r| {
                let gap_end = r.map_or(end, |r| r.start.min(end));
                let gap = next..gap_end;
                if let Some(r) = r {
                    next = next.max(r.end);
                }
                (!gap.is_empty()).then_some(gap)
            })
    }

    /// The ranges of the set that overlap `range`, clipped to it.
    pub fn within(&self, range: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
        self.0.iter().filter_map(move |r| {
            let clipped = r.start.max(range.start)..r.end.min(range.end);
            (!clipped.is_empty()).then_some(clipped)
        })
    }

    /// The runs of non-zero bytes of `mask`.
    pub fn from_mask(mask: &[u8]) -> Self {
        let mut set = Self::new();
        let mut start = None;
        for (i, &b) in mask.iter().chain([&0]).enumerate() {
            match (b != 0, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    set.0.push(s..i);
                    start = None;
                }
                _ => {}
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[Range<usize>]) -> Ranges {
        let mut s = Ranges::new();
        for r in ranges {
            s.insert(r.clone());
        }
        s
    }

    #[test]
    fn insert_merges_overlapping_and_touching() {
        let s = set(&[10..20, 30..40, 20..25, 5..6, 39..50, 0..0]);
        assert_eq!(s.0, vec![5..6, 10..25, 30..50]);
        let s = set(&[10..20, 30..40, 0..100]);
        assert_eq!(s.0, vec![0..100]);
        let s = set(&[10..20, 30..40, 15..35]);
        assert_eq!(s.0, vec![10..40]);
    }

    #[test]
    fn gaps_and_contains() {
        let s = set(&[10..20, 30..40]);
        assert_eq!(
            s.gaps(0..50).collect::<Vec<_>>(),
            vec![0..10, 20..30, 40..50]
        );
        assert_eq!(s.gaps(12..35).collect::<Vec<_>>(), vec![20..30]);
        assert_eq!(s.gaps(12..18).count(), 0);
        assert_eq!(Ranges::new().gaps(3..7).collect::<Vec<_>>(), vec![3..7]);
        assert!(s.contains(10..20));
        assert!(!s.contains(10..21));
        assert!(s.contains(5..5));
    }

    #[test]
    fn within_truncate_and_masks() {
        let mut s = set(&[10..20, 30..40]);
        assert_eq!(s.within(15..35).collect::<Vec<_>>(), vec![15..20, 30..35]);
        s.truncate(35);
        assert_eq!(s.0, vec![10..20, 30..35]);
        s.truncate(5);
        assert!(s.is_empty());
        assert_eq!(
            Ranges::from_mask(&[0, 1, 1, 0, 2, 0, 0, 9]).0,
            vec![1..3, 4..5, 7..8]
        );
        assert!(Ranges::from_mask(&[0, 0]).is_empty());
    }
}
