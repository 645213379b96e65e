//! The per-token random stream. Each token's draws depend only on the batch seed and the token's
//! index, so a batch is the same whatever the number of threads or the chunking.

/// SplitMix64 keyed by (seed, index): cheap to create per token, portable, and stable across
/// releases (unlike `rand`'s `SmallRng`). Not for secrets: keys come from aws-lc's system RNG.
#[derive(Debug, Clone)]
pub struct TokenRng {
    state: u64,
}

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finaliser: a bijection on u64.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TokenRng {
    /// The stream of token `index` in a batch minted with `seed`.
    pub fn new(seed: u64, index: u64) -> Self {
        TokenRng {
            state: mix64(seed ^ 0x6a77_7473_746f_726d)
                .wrapping_add(index.wrapping_mul(GAMMA).rotate_left(17))
                ^ mix64(index),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// A uniform float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (n > 0), by Lemire's multiply-shift (bias below 2^-64 * n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Shuffles `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// A unique, random-looking token id for `index` in a batch minted with `seed`: 16 hex digits.
/// Unique across a batch because `mix64` is a bijection.
pub fn jti(seed: u64, index: u64) -> u64 {
    mix64(mix64(seed).wrapping_add(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut r = TokenRng::new(1, 5);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = TokenRng::new(1, 5);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = TokenRng::new(1, 6);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = TokenRng::new(3, 0);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn jti_unique() {
        let mut ids: Vec<u64> = (0..10_000).map(|i| jti(9, i)).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10_000);
    }
}
