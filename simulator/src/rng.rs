//! Tiny deterministic PRNG (splitmix64) for the simulators: same seed, same sequence,
//! on every platform and in every build.

/// splitmix64 generator; cheap, stateless apart from one `u64`, good enough for fake data.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent stream derived from this generator's seed and `stream`, so that
    /// one kind of data does not shift when another kind grows.
    pub(crate) fn fork(&self, stream: u64) -> Rng {
        let mut mixer = Rng(self.0 ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Rng(mixer.next_u64())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`; `lo` when the range is empty.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.wrapping_add(self.below(span) as i64)
    }

    /// True with probability `1/n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A uniformly chosen element; `items` must not be empty.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Moves `k` uniformly chosen distinct elements to the front of `items`
    /// (a partial Fisher–Yates shuffle); `k` is capped at the length.
    pub(crate) fn shuffle_prefix<T>(&mut self, items: &mut [T], k: usize) {
        let len = items.len();
        for i in 0..k.min(len) {
            let j = i + self.below((len - i) as u64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rng::Rng;

    #[test]
    fn same_seed_same_sequence_and_bounds_hold() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let r = a.range(-3, 3);
            assert!((-3..=3).contains(&r));
            b.range(-3, 3);
        }
        assert_ne!(
            Rng::new(42).fork(1).next_u64(),
            Rng::new(42).fork(2).next_u64()
        );
        let mut items = [1, 2, 3, 4, 5];
        a.shuffle_prefix(&mut items, 9);
        items.sort_unstable();
        assert_eq!(items, [1, 2, 3, 4, 5]);
    }
}
