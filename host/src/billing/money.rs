//! Exact money: decimal text in, decimal text out, never a float.
//!
//! [`parse_decimal`] accepts the forms providers send (`12.50`, `0.06`,
//! `1.5e-05`, `123.78912`) and builds the exact value from the digits; any
//! input that cannot be held exactly (more than 28 decimal places, or more
//! than 28–29 significant digits) is rejected, never rounded.

use std::fmt;

use rust_decimal::Decimal;

/// Why a text is not an exact amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number.
    #[error("{0:?} is not a decimal number")]
    Syntax(String),
    /// Would need rounding to fit.
    #[error("{0:?} has more precision than can be stored exactly (28 decimal places)")]
    TooPrecise(String),
    /// Too many digits.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses decimal text (optionally with an exponent) exactly.
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let syntax = || MoneyError::Syntax(text.to_string());
    let s = text.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (number, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let exp: i64 = body[i + 1..].parse().map_err(|_| syntax())?;
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
    if exponent.abs() > 100 {
        return Err(MoneyError::TooPrecise(text.to_string()));
    }
    let mut digits: String = format!("{int_part}{frac_part}");
    let mut scale: i64 = frac_part.len() as i64 - exponent;
    if scale < 0 {
        digits.extend(std::iter::repeat_n('0', (-scale) as usize));
        scale = 0;
    }
    // Trailing zeros after the point carry no value; drop them before judging precision.
    while scale > 0 && digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    let digits = digits.trim_start_matches('0');
    if scale > 28 {
        return Err(MoneyError::TooPrecise(text.to_string()));
    }
    if digits.len() > 29 {
        return Err(MoneyError::TooLarge(text.to_string()));
    }
    let mantissa: i128 =
        if digits.is_empty() { 0 } else { digits.parse().map_err(|_| syntax())? };
    let mantissa = if negative { -mantissa } else { mantissa };
    Decimal::try_from_i128_with_scale(mantissa, scale as u32)
        .map_err(|_| MoneyError::TooLarge(text.to_string()))
}

/// An exact amount of money in its currency's major unit (dollars for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Money(Decimal);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// An amount in major units (`"12.50"` dollars).
    pub fn parse_major(text: &str) -> Result<Money, MoneyError> {
        parse_decimal(text).map(|d| Money(d.normalize()))
    }

    /// An amount in hundredths (`"123.45"` cents is $1.2345), divided exactly.
    pub fn parse_cents(text: &str) -> Result<Money, MoneyError> {
        let d = parse_decimal(text)?.normalize();
        let scale = d.scale() + 2;
        if scale > 28 {
            return Err(MoneyError::TooPrecise(text.to_string()));
        }
        Decimal::try_from_i128_with_scale(d.mantissa(), scale)
            .map(|d| Money(d.normalize()))
            .map_err(|_| MoneyError::TooLarge(text.to_string()))
    }

    /// An amount read back from the database, where this program wrote it as
    /// canonical decimal text; text that does not parse (a hand edit) reads
    /// as zero.
    pub fn from_stored(text: &str) -> Money {
        Money::parse_major(text).unwrap_or_default()
    }

    /// The canonical text stored in the database (no trailing zeros).
    pub fn to_stored(self) -> String {
        self.0.normalize().to_string()
    }

    /// Exact sum; `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// The underlying decimal.
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// From a decimal.
    pub fn from_decimal(d: Decimal) -> Money {
        Money(d.normalize())
    }

    /// Exact total of `amounts`; `None` on overflow (never rounded or capped).
    #[cfg(test)]
    pub fn total(amounts: impl IntoIterator<Item = Money>) -> Option<Money> {
        amounts.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }
}

/// Prints exactly, with at least two decimals: `5.00`, `0.06`, `1.2378912`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.normalize();
        if d.scale() < 2 {
            let mut padded = d;
            padded.rescale(2);
            write!(f, "{padded}")
        } else {
            write!(f, "{d}")
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
        assert_eq!(Money::parse_cents("123.78912").unwrap().to_stored(), "1.2378912");
        assert_eq!(Money::parse_cents("1500").unwrap().to_string(), "15.00");
        assert_eq!(Money::parse_cents("0.1").unwrap().to_stored(), "0.001");
        assert_eq!(
            Money::parse_major("0.48390000000000005").unwrap().to_stored(),
            "0.48390000000000005"
        );
    }

    #[test]
    fn sums_without_float_error() {
        let sum =
            Money::total(["0.1", "0.2"].iter().map(|s| Money::parse_major(s).unwrap())).unwrap();
        assert_eq!(sum.to_string(), "0.30");
    }

    #[test]
    fn rejects_instead_of_rounding() {
        for bad in ["", ".", "1.", ".5", "abc", "1,5", "NaN", "inf", "1e", "--1", "0x10", " "] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            parse_decimal("0.12345678901234567890123456789"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(parse_decimal("1e-29"), Err(MoneyError::TooPrecise(_))));
        assert!(matches!(
            parse_decimal("123456789012345678901234567890"),
            Err(MoneyError::TooLarge(_))
        ));
        // Trailing zeros beyond 28 places are not precision.
        assert_eq!(parse_decimal("1.00000000000000000000000000000000").unwrap().to_string(), "1");
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
            fn plain_decimals_parse_to_exactly_their_digits(int in "[0-9]{1,15}", frac in "[0-9]{0,13}") {
                let text = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
                let m = Money::parse_major(&text).unwrap();
                prop_assert_eq!(m.to_stored(), canonical(&int, &frac));
            }

            #[test]
            fn cents_are_hundredths_exactly(int in "[0-9]{1,13}", frac in "[0-9]{0,12}") {
                let text = if frac.is_empty() { int } else { format!("{int}.{frac}") };
                let cents = parse_decimal(&text).unwrap();
                let dollars = Money::parse_cents(&text).unwrap();
                prop_assert_eq!(dollars.decimal() * Decimal::from(100), cents);
            }

            #[test]
            fn exponents_shift_exactly(mantissa in 1u64..1_000_000_000, exp in -12i32..12) {
                let m = parse_decimal(&format!("{mantissa}e{exp}")).unwrap();
                let back = if exp >= 0 {
                    m == Decimal::from(mantissa) * Decimal::from(10u64.pow(exp as u32))
                } else {
                    m * Decimal::from(10u64.pow((-exp) as u32)) == Decimal::from(mantissa)
                };
                prop_assert!(back);
            }

            #[test]
            fn any_text_parses_exactly_or_is_rejected(text in "\\PC{0,40}") {
                if let Ok(d) = parse_decimal(&text) {
                    // Whatever was accepted reads back as the same value.
                    prop_assert_eq!(parse_decimal(&d.to_string()).unwrap(), d);
                    let t = text.trim();
                    prop_assert!(t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)), "{:?}", t);
                }
            }

            #[test]
            fn sums_are_exact(a in 0u64..10_000_000_000, b in 0u64..10_000_000_000) {
                let ma = Money::parse_major(&format!("{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)).unwrap();
                let mb = Money::parse_major(&format!("{}.{:09}", b / 1_000_000_000, b % 1_000_000_000)).unwrap();
                let sum = ma.checked_add(mb).unwrap();
                let expect = a + b;
                prop_assert_eq!(sum.to_stored(), canonical(&(expect / 1_000_000_000).to_string(), &format!("{:09}", expect % 1_000_000_000)));
            }
        }
    }
}
