//! The one randomness source: ChaCha20, seeded from the OS, or from `--seed` so that every
//! random value (keys, serials, challenges, transaction IDs) replays byte for byte.

use rand_core::SeedableRng as _;

/// The project's RNG type.
pub type Rng = chacha20::ChaCha20Rng;

/// A seeded RNG with `Some(seed)`, else one seeded from the operating system.
pub fn rng(seed: Option<u64>) -> Rng {
    match seed {
        Some(s) => Rng::seed_from_u64(s),
        None => {
            let mut key = [0u8; 32];
            // aws-lc's system RNG (getrandom underneath); failure here means no entropy at all.
            aws_lc_rs::rand::fill(&mut key).expect("operating system RNG unavailable");
            Rng::from_seed(key)
        }
    }
}
