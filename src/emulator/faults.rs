//! Random faults for rehearsing a run under bad conditions: error answers at
//! chosen rates, added latency, and connections dropped before or after the
//! request is carried out (the second is the one that tests idempotence).

use std::str::FromStr;
use std::time::Duration;

/// An error status injected at a rate: `429:0.1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailRate {
    pub status: u16,
    pub rate: f64,
}

impl FromStr for FailRate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (status, rate) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}`: write STATUS:RATE, for example 429:0.1"))?;
        let status: u16 = status
            .parse()
            .map_err(|_| format!("`{status}` is not an HTTP status"))?;
        if !matches!(status, 429 | 500 | 502 | 503 | 504) {
            return Err(format!(
                "`{status}`: injected failures are 429, 500, 502, 503 or 504"
            ));
        }
        let rate = parse_rate(rate)?;
        Ok(Self { status, rate })
    }
}

/// Reads a probability between 0 and 1.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("`{text}`: a rate is between 0 and 1"))
    }
}

/// The faults to inject.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub fail: Vec<FailRate>,
    pub latency: Duration,
    pub drop_rate: f64,
    /// Writes to a group created less than this long ago are refused as not replicated yet.
    pub replication_lag: Duration,
    /// The status of a `$batch` with throttled requests in it: 200 (Graph's
    /// current documentation) or 424 (its older one).
    pub throttled_batch_status: u16,
}

/// A small deterministic generator (xorshift64*), seeded per emulator.
#[derive(Debug, Clone)]
pub struct Dice {
    state: u64,
}

impl Dice {
    /// A generator; a zero seed is replaced.
    pub fn new(seed: u64) -> Self {
        Self { state: seed.max(1) }
    }

    /// The next value in 0..2^64.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in 0..1.
    pub fn unit(&mut self) -> f64 {
        // 53 random bits: exactly representable, all a probability needs.
        let bits = u32::try_from(self.next_u64() >> 43).expect("21 bits fit");
        let low = u32::try_from(self.next_u64() >> 32).expect("32 bits fit");
        (f64::from(bits) * 4_294_967_296.0 + f64::from(low)) / 9_007_199_254_740_992.0
    }

    /// True with probability `rate`.
    pub fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.unit() < rate
    }

    /// A request id in GUID form.
    pub fn request_id(&mut self) -> String {
        let high = self.next_u64();
        let low = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xfff,
            low >> 52,
            low & 0xffff_ffff_ffff
        )
    }
}

impl Faults {
    /// The injected failure for one request, if any.
    pub fn failure(&self, dice: &mut Dice) -> Option<u16> {
        self.fail
            .iter()
            .find(|fail| dice.roll(fail.rate))
            .map(|fail| fail.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_rates_are_read_and_checked() {
        assert_eq!(
            "429:0.1".parse::<FailRate>().unwrap(),
            FailRate {
                status: 429,
                rate: 0.1
            }
        );
        assert!("404:0.1".parse::<FailRate>().is_err());
        assert!("429:1.5".parse::<FailRate>().is_err());
        assert!("429".parse::<FailRate>().is_err());
    }

    #[test]
    fn dice_roll_near_their_rate() {
        let mut dice = Dice::new(7);
        let hits = (0..10_000).filter(|_| dice.roll(0.1)).count();
        assert!((800..1_200).contains(&hits), "{hits}");
        assert_eq!(dice.request_id().len(), 36);
    }
}
