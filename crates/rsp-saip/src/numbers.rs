//! Number allocation: the n-th profile of a plan gets the n-th ICCID and IMSI of its ranges and
//! fresh random Ki/OPc.
//!
//! A plan is a pure function of a serial number, so uniqueness reduces to handing out each
//! serial once — which the server's store does in one transaction, with a UNIQUE ICCID column
//! behind it. Serials past the end of either range are refused, never wrapped.

use rand_core::CryptoRng;
use rsp_asn1::ids::luhn_check_digit;

use crate::personalise::Personalisation;

/// Why a plan or an allocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(String),
    #[error("number range exhausted: serial {serial} is past the last of {capacity}")]
    Exhausted { serial: u64, capacity: u64 },
}

/// ICCIDs `prefix ‖ serial (zero-padded) ‖ Luhn`, 19 digits + check digit = 20 (ITU-T E.118).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccidRange {
    /// Issuer identification: `89` (telecom), country code, issuer — 6 to 17 digits.
    pub prefix: String,
    /// First and last serial (inclusive) of the account part.
    pub first: u64,
    pub last: u64,
}

/// IMSIs `MCC ‖ MNC ‖ MSIN`, 15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImsiRange {
    pub mcc: String,
    /// 2 or 3 digits.
    pub mnc: String,
    pub first_msin: u64,
}

/// An ICCID range, an IMSI range, and whether to set a service provider name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    pub iccid: IccidRange,
    pub imsi: ImsiRange,
    pub spn: Option<String>,
}

impl Default for NumberPlan {
    /// Test numbers: ICCIDs 89 001 01 … (the test network's country code 001), IMSIs on the
    /// test PLMN 001/01 (3GPP TS 23.003 reserves MCC 001 for testing).
    fn default() -> Self {
        Self {
            iccid: IccidRange {
                prefix: "8900101".into(),
                first: 1,
                last: 999_999_999,
            },
            imsi: ImsiRange {
                mcc: "001".into(),
                mnc: "01".into(),
                first_msin: 1,
            },
            spn: None,
        }
    }
}

fn digits(s: &str, what: &str, len: core::ops::RangeInclusive<usize>) -> Result<(), PlanError> {
    if !len.contains(&s.len()) || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(PlanError::Invalid(format!(
            "{what} {s:?} must be {}..{} digits",
            len.start(),
            len.end()
        )));
    }
    Ok(())
}

impl NumberPlan {
    /// Digits of the ICCID serial field.
    fn serial_width(&self) -> usize {
        19 - self.iccid.prefix.len()
    }

    fn msin_width(&self) -> usize {
        15 - self.imsi.mcc.len() - self.imsi.mnc.len()
    }

    /// Checks the plan's shape; [`Self::allocate`] does too.
    pub fn check(&self) -> Result<(), PlanError> {
        digits(&self.iccid.prefix, "ICCID prefix", 6..=17)?;
        if !self.iccid.prefix.starts_with("89") {
            return Err(PlanError::Invalid(format!(
                "ICCID prefix {:?} must start with 89 (telecommunication)",
                self.iccid.prefix
            )));
        }
        digits(&self.imsi.mcc, "MCC", 3..=3)?;
        digits(&self.imsi.mnc, "MNC", 2..=3)?;
        let max_serial = 10u64.pow(self.serial_width() as u32) - 1;
        if self.iccid.first > self.iccid.last || self.iccid.last > max_serial {
            return Err(PlanError::Invalid(format!(
                "ICCID serials {}..={} do not fit {} digits after the prefix",
                self.iccid.first,
                self.iccid.last,
                self.serial_width()
            )));
        }
        let max_msin = 10u64.pow(self.msin_width() as u32) - 1;
        if self.imsi.first_msin > max_msin
            || max_msin - self.imsi.first_msin < self.iccid.last - self.iccid.first
        {
            return Err(PlanError::Invalid(format!(
                "MSINs from {} cannot follow all {} ICCID serials in {} digits",
                self.imsi.first_msin,
                self.capacity(),
                self.msin_width()
            )));
        }
        Ok(())
    }

    /// How many profiles the plan can number.
    pub fn capacity(&self) -> u64 {
        self.iccid.last.saturating_sub(self.iccid.first) + 1
    }

    /// The `n`-th ICCID (`n` from 0), with its Luhn check digit.
    pub fn iccid(&self, n: u64) -> Result<String, PlanError> {
        self.check()?;
        if n >= self.capacity() {
            return Err(PlanError::Exhausted {
                serial: n,
                capacity: self.capacity(),
            });
        }
        let payload = format!(
            "{}{:0w$}",
            self.iccid.prefix,
            self.iccid.first + n,
            w = self.serial_width()
        );
        Ok(format!("{payload}{}", luhn_check_digit(&payload)))
    }

    /// The `n`-th IMSI.
    pub fn imsi(&self, n: u64) -> Result<String, PlanError> {
        self.iccid(n)?;
        Ok(format!(
            "{}{}{:0w$}",
            self.imsi.mcc,
            self.imsi.mnc,
            self.imsi.first_msin + n,
            w = self.msin_width()
        ))
    }

    /// Everything the `n`-th profile gets: ICCID, IMSI, the plan's SPN, and Ki/OPc drawn from
    /// `rng` (the project's one randomness source, deterministic under `--seed`).
    pub fn allocate(&self, n: u64, rng: &mut impl CryptoRng) -> Result<Personalisation, PlanError> {
        let mut ki = [0u8; 16];
        let mut opc = [0u8; 16];
        rng.fill_bytes(&mut ki);
        rng.fill_bytes(&mut opc);
        Ok(Personalisation {
            iccid: Some(self.iccid(n)?),
            imsi: Some(self.imsi(n)?),
            ki: Some(ki),
            opc: Some(opc),
            spn: self.spn.clone(),
        })
    }
}
