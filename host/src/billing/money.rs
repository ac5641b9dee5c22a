//! Exact money: decimal text in, decimal text out, never a float.
//!
//! [`parse_decimal`] accepts the forms providers send (`12.50`, `0.06`,
//! `1.5e-05`, `5.551115123125783e-17`, `123.78912`) and builds the exact
//! value from the digits, with arbitrary precision: any JSON number a
//! float encoder can write (down to `4.9e-324`, up to `1.8e308`) is held
//! exactly, and sums never overflow. Text beyond [`MAX_DIGITS`] decimal
//! places or integer digits is rejected with a reason, never rounded.

use std::fmt;

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, RoundingMode, Zero};

/// The most decimal places, and the most integer digits, an amount may
/// have: room for every finite double written out exactly.
pub const MAX_DIGITS: i64 = 400;

/// Why a text is not an exact amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number.
    #[error("{0:?} is not a decimal number")]
    Syntax(String),
    /// Beyond the places kept.
    #[error("{0:?} has more than 400 decimal places")]
    TooPrecise(String),
    /// Too many digits.
    #[error("{0:?} has more than 400 integer digits")]
    TooLarge(String),
}

/// Parses decimal text (optionally with an exponent, as JSON numbers may
/// have) exactly.
pub fn parse_decimal(text: &str) -> Result<BigDecimal, MoneyError> {
    let syntax = || MoneyError::Syntax(text.to_string());
    let s = text.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (number, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let exp = &body[i + 1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            // An exponent this long is out of range whatever its digits.
            let exp: i64 =
                exp.parse().unwrap_or(if exp.starts_with('-') { i64::MIN } else { i64::MAX });
            (&body[..i], exp)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
        || (number.contains('.') && (int_part.is_empty() || frac_part.is_empty()))
    {
        return Err(syntax());
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(BigDecimal::zero());
    }
    // Trailing zeros carry no value: drop them before judging the size.
    let trimmed = digits.trim_end_matches('0');
    let zeros = (digits.len() - trimmed.len()) as i64;
    let scale = (frac_part.len() as i64).saturating_sub(exponent).saturating_sub(zeros);
    if scale > MAX_DIGITS {
        return Err(MoneyError::TooPrecise(text.to_string()));
    }
    if (trimmed.len() as i64).saturating_sub(scale) > MAX_DIGITS {
        return Err(MoneyError::TooLarge(text.to_string()));
    }
    let mantissa = BigInt::parse_bytes(trimmed.as_bytes(), 10).ok_or_else(syntax)?;
    let mantissa = if negative { -mantissa } else { mantissa };
    Ok(BigDecimal::new(mantissa, scale))
}

/// Decimal text as this program stores it: digits, a sign and a point, of
/// any length (no exponent, so the text's length bounds the value's).
pub fn parse_stored(text: &str) -> Result<BigDecimal, MoneyError> {
    let t = text.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    let plain = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|b| *b == b'.').count() <= 1
        && !body.starts_with('.')
        && !body.ends_with('.');
    if !plain {
        return Err(MoneyError::Syntax(text.to_string()));
    }
    t.parse().map_err(|_| MoneyError::Syntax(text.to_string()))
}

/// An exact amount of money in its currency's major unit (dollars for USD).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Money(BigDecimal);

impl Money {
    /// Zero.
    pub fn zero() -> Money {
        Money(BigDecimal::zero())
    }

    /// An amount in major units (`"12.50"` dollars).
    pub fn parse_major(text: &str) -> Result<Money, MoneyError> {
        parse_decimal(text).map(Money::from_decimal)
    }

    /// An amount in hundredths (`"123.45"` cents is $1.2345), divided exactly.
    pub fn parse_cents(text: &str) -> Result<Money, MoneyError> {
        let (mantissa, scale) = parse_decimal(text)?.into_bigint_and_exponent();
        Ok(Money::from_decimal(BigDecimal::new(mantissa, scale + 2)))
    }

    /// An amount read back from the database, where this program wrote it as
    /// plain decimal text (sums may exceed what [`parse_decimal`] takes from a
    /// provider); text that is not plain decimal (a hand edit) reads as zero.
    pub fn from_stored(text: &str) -> Money {
        parse_stored(text).map(Money::from_decimal).unwrap_or_default()
    }

    /// The canonical text stored in the database: plain digits, no exponent,
    /// no trailing zeros.
    pub fn to_stored(&self) -> String {
        plain(&self.0)
    }

    /// The underlying decimal.
    pub fn decimal(&self) -> &BigDecimal {
        &self.0
    }

    /// From a decimal.
    pub fn from_decimal(d: BigDecimal) -> Money {
        Money(d.normalized())
    }

    /// Rounded half away from zero to `places` decimals (for forecasts,
    /// which are estimates).
    pub fn rounded(&self, places: i64) -> Money {
        Money::from_decimal(self.0.with_scale_round(places, RoundingMode::HalfUp))
    }

    /// Whether it is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl std::ops::Add for Money {
    type Output = Money;

    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl std::ops::AddAssign<&Money> for Money {
    fn add_assign(&mut self, other: &Money) {
        self.0 += &other.0;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::zero(), |a, b| a + b)
    }
}

/// A decimal as plain text, without exponent or trailing zeros.
fn plain(d: &BigDecimal) -> String {
    let d = d.normalized();
    if d.fractional_digit_count() < 0 {
        d.with_scale(0).to_plain_string()
    } else {
        d.to_plain_string()
    }
}

/// Prints exactly, with at least two decimals: `5.00`, `0.06`, `1.2378912`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.normalized();
        if d.fractional_digit_count() < 2 {
            write!(f, "{}", d.with_scale(2).to_plain_string())
        } else {
            write!(f, "{}", plain(&d))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provider_forms_exactly() {
        assert_eq!(Money::parse_major("12.50").unwrap().to_string(), "12.50");
        assert_eq!(Money::parse_major("0.06").unwrap().to_stored(), "0.06");
        assert_eq!(Money::parse_major("1.5e-05").unwrap().to_stored(), "0.000015");
        assert_eq!(Money::parse_major("2E3").unwrap().to_stored(), "2000");
        assert_eq!(Money::parse_major("2E+3").unwrap().to_string(), "2000.00");
        assert_eq!(Money::parse_cents("123.78912").unwrap().to_stored(), "1.2378912");
        assert_eq!(Money::parse_cents("1500").unwrap().to_string(), "15.00");
        assert_eq!(Money::parse_cents("0.1").unwrap().to_stored(), "0.001");
        assert_eq!(
            Money::parse_major("0.48390000000000005").unwrap().to_stored(),
            "0.48390000000000005"
        );
    }

    #[test]
    fn float_residues_sum_exactly() {
        let residue = Money::parse_major("5.551115123125783e-17").unwrap();
        assert_eq!(residue.to_stored(), "0.00000000000000005551115123125783");
        let sum = Money::parse_major("12.5").unwrap() + residue;
        assert_eq!(sum.to_stored(), "12.50000000000000005551115123125783");
        let tiny = Money::parse_major("4.9e-324").unwrap();
        let huge = Money::parse_major("1.7976931348623157e308").unwrap();
        let both = tiny.clone() + huge.clone();
        assert_eq!(both.to_stored().len(), 309 + 1 + 325);
        assert_eq!(Money::from_stored(&both.to_stored()), both);
        // Sums past what a provider may send still read back.
        let big = Money::parse_major("9e399").unwrap();
        let twice = big.clone() + big;
        assert_eq!(twice.to_stored().len(), 401);
        assert_eq!(Money::from_stored(&twice.to_stored()), twice);
        assert!(
            parse_stored("1e5").is_err()
                && parse_stored("").is_err()
                && parse_stored("1.").is_err()
        );
        assert!(tiny < huge);
    }

    #[test]
    fn sums_without_float_error() {
        let sum: Money = ["0.1", "0.2"].iter().map(|s| Money::parse_major(s).unwrap()).sum();
        assert_eq!(sum.to_string(), "0.30");
        assert_eq!(Money::zero().to_string(), "0.00");
        assert_eq!(Money::parse_major("-0.0").unwrap().to_stored(), "0");
    }

    #[test]
    fn rejects_instead_of_rounding() {
        for bad in [
            "", ".", "1.", ".5", "abc", "1,5", "NaN", "inf", "1e", "--1", "0x10", " ", "1e+",
            "1e1.5", "1_000",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(parse_decimal("1e-401"), Err(MoneyError::TooPrecise(_))));
        assert!(matches!(parse_decimal("1e-99999999999999999999"), Err(MoneyError::TooPrecise(_))));
        assert!(matches!(parse_decimal("1e401"), Err(MoneyError::TooLarge(_))));
        assert!(parse_decimal("1e-400").is_ok());
        // Trailing zeros beyond the limit are not precision.
        let zeros = format!("1.{}", "0".repeat(500));
        assert_eq!(plain(&parse_decimal(&zeros).unwrap()), "1");
        assert_eq!(plain(&parse_decimal("0e-999999").unwrap()), "0");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The canonical text of `int.frac` without trailing zeros.
        fn canonical(int: &str, frac: &str) -> String {
            let int = int.trim_start_matches('0');
            let frac = frac.trim_end_matches('0');
            match (int.is_empty(), frac.is_empty()) {
                (true, true) => "0".into(),
                (true, false) => format!("0.{frac}"),
                (false, true) => int.into(),
                (false, false) => format!("{int}.{frac}"),
            }
        }

        proptest! {
            #[test]
            fn plain_decimals_parse_to_exactly_their_digits(int in "[0-9]{1,60}", frac in "[0-9]{0,60}") {
                let text = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
                let m = Money::parse_major(&text).unwrap();
                prop_assert_eq!(m.to_stored(), canonical(&int, &frac));
            }

            #[test]
            fn cents_are_hundredths_exactly(int in "[0-9]{1,30}", frac in "[0-9]{0,30}") {
                let text = if frac.is_empty() { int } else { format!("{int}.{frac}") };
                let cents = parse_decimal(&text).unwrap();
                let dollars = Money::parse_cents(&text).unwrap();
                prop_assert_eq!(dollars.decimal() * BigDecimal::from(100), cents);
            }

            #[test]
            fn exponents_shift_exactly(mantissa in 1u64..u64::MAX, exp in -300i64..300) {
                let m = parse_decimal(&format!("{mantissa}e{exp}")).unwrap();
                prop_assert_eq!(m, BigDecimal::new(BigInt::from(mantissa), -exp));
            }

            #[test]
            fn any_json_number_of_a_float_is_exact(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
                // What a JSON encoder writes for a double, read back exactly:
                // its digits are the value, with no rounding on the way in.
                let text = serde_json::to_string(&f).unwrap();
                let d = parse_decimal(&text).unwrap();
                let back = Money::from_decimal(d.clone()).to_stored();
                prop_assert_eq!(parse_decimal(&back).unwrap(), d);
                prop_assert_eq!(back.parse::<f64>().unwrap(), f);
            }

            #[test]
            fn any_json_number_is_exact_or_rejected_with_a_reason(
                text in "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,3})?"
            ) {
                // The JSON number grammar; bigdecimal's own parser is the oracle.
                let oracle: BigDecimal = text.parse().unwrap();
                match parse_decimal(&text) {
                    Ok(d) => {
                        prop_assert_eq!(&d, &oracle);
                        let stored = Money::from_decimal(d).to_stored();
                        prop_assert_eq!(parse_decimal(&stored).unwrap(), oracle);
                    }
                    Err(e @ (MoneyError::TooPrecise(_) | MoneyError::TooLarge(_))) => {
                        prop_assert!(e.to_string().contains(&text));
                        let (_, scale) = oracle.normalized().as_bigint_and_exponent();
                        let digits = oracle.normalized().digits() as i64;
                        prop_assert!(scale > MAX_DIGITS || digits - scale > MAX_DIGITS, "{} rejected", text);
                    }
                    Err(e) => prop_assert!(false, "{} is valid JSON but {}", text, e),
                }
            }

            #[test]
            fn sums_of_json_numbers_are_exact(
                values in proptest::collection::vec("-?(0|[1-9][0-9]{0,12})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,2})?", 1..20)
            ) {
                let oracle: BigDecimal = values.iter().map(|v| v.parse::<BigDecimal>().unwrap()).sum();
                let sum: Money = values.iter().map(|v| Money::parse_major(v).unwrap()).sum();
                prop_assert_eq!(sum.decimal(), &oracle);
            }

            #[test]
            fn any_text_parses_exactly_or_is_rejected(text in "\\PC{0,40}") {
                if let Ok(d) = parse_decimal(&text) {
                    // Whatever was accepted reads back as the same value.
                    prop_assert_eq!(parse_decimal(&plain(&d)).unwrap(), d);
                    let t = text.trim();
                    prop_assert!(t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)), "{:?}", t);
                }
            }

            #[test]
            fn sums_are_exact(a in 0u64..10_000_000_000, b in 0u64..10_000_000_000, residue in 1u32..1000) {
                let ma = Money::parse_major(&format!("{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)).unwrap();
                let mb = Money::parse_major(&format!("{}.{:09}", b / 1_000_000_000, b % 1_000_000_000)).unwrap();
                let sum = ma + mb;
                let expect = a + b;
                prop_assert_eq!(sum.to_stored(), canonical(&(expect / 1_000_000_000).to_string(), &format!("{:09}", expect % 1_000_000_000)));
                // A residue far below the cents survives the sum.
                let tiny = Money::parse_major(&format!("{residue}e-40")).unwrap();
                let with = sum.clone() + tiny;
                prop_assert!(with > sum);
                prop_assert_eq!(Money::from_stored(&with.to_stored()), with);
            }
        }
    }
}
