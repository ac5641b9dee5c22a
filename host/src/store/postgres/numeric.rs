//! PostgreSQL's binary `NUMERIC` format, to and from exact decimal text:
//! money crosses the wire as base-10000 digits, never as a float.
//!
//! The format (PostgreSQL's `numeric.c`, `numeric_send`): `ndigits`,
//! `weight` (of the first digit, in powers of 10000), `sign` and `dscale`
//! (decimal places), each 16 bits, then `ndigits` 16-bit digits 0..9999.

use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;

/// Decimal text (`-12.5`, normalized: no trailing fraction zeros) from the
/// binary form.
pub fn decode(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated NUMERIC".into())
    };
    let ndigits = usize::from(word(0)?);
    #[allow(clippy::cast_possible_wrap)]
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    if sign != POSITIVE && sign != NEGATIVE {
        return Err("a NUMERIC that is not a finite number (NaN or infinity)".into());
    }
    let digit = |w: i32| -> Result<u16, BoxError> {
        // The digit of weight `w` is at index `weight - w`; absent ones are 0.
        let i = weight - w;
        if i < 0 || i >= ndigits as i32 {
            return Ok(0);
        }
        let d = word(4 + i as usize)?;
        if d > 9999 {
            return Err("a NUMERIC digit above 9999".into());
        }
        Ok(d)
    };
    let mut int = String::new();
    for w in (0..=weight.max(0)).rev() {
        let d = digit(w)?;
        if int.is_empty() {
            if d != 0 || w == 0 {
                int.push_str(&d.to_string());
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    let mut frac = String::new();
    for k in 1..=dscale.div_ceil(4) as i32 {
        frac.push_str(&format!("{:04}", digit(-k)?));
    }
    frac.truncate(dscale);
    let frac = frac.trim_end_matches('0');
    let zero = int == "0" && frac.is_empty();
    let mut out = String::with_capacity(int.len() + frac.len() + 2);
    if sign == NEGATIVE && !zero {
        out.push('-');
    }
    out.push_str(&int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Ok(out)
}

/// The binary form of decimal text (`12`, `-0.000123`, `1.5E-7`).
pub fn encode(text: &str, out: &mut bytes_out::Out) -> Result<(), BoxError> {
    let plain = plain_decimal(text)?;
    let (negative, body) = match plain.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, plain.as_str()),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int = int.trim_start_matches('0');
    // Pad to whole base-10000 digits: the integer part on the left, the
    // fraction on the right.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let digits_text = format!("{}{int}{frac}{}", "0".repeat(int_pad), "0".repeat(frac_pad));
    let mut digits: Vec<u16> = digits_text
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0')))
        .collect();
    let mut weight = ((int.len() + int_pad) / 4) as i32 - 1;
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let dscale = u16::try_from(frac.len()).map_err(|_| "a decimal with too many places")?;
    let ndigits = u16::try_from(digits.len()).map_err(|_| "a decimal with too many digits")?;
    let weight = i16::try_from(weight).map_err(|_| "a decimal too large for NUMERIC")?;
    let sign = if negative && !digits.is_empty() { NEGATIVE } else { POSITIVE };
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Ok(())
}

/// `text` as plain decimal digits (no exponent), or why it is not one.
fn plain_decimal(text: &str) -> Result<String, BoxError> {
    let t = text.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match body.split_once('.') {
        Some((i, f)) => digits_only(i) && (f.is_empty() || digits_only(f)),
        None => digits_only(body),
    };
    if ok {
        return Ok(t.trim_end_matches('.').to_string());
    }
    // Exponent notation, as some decimal printers write tiny amounts.
    let d: bigdecimal::BigDecimal =
        t.parse().map_err(|_| format!("{t:?} is not a decimal number"))?;
    Ok(d.to_plain_string())
}

/// Where the binary form is written (the driver's buffer).
pub mod bytes_out {
    /// The driver's output buffer.
    pub type Out = postgres::types::private::BytesMut;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut out = bytes_out::Out::new();
        encode(text, &mut out).unwrap();
        decode(&out).unwrap()
    }

    #[test]
    fn decimals_survive_the_binary_form_exactly() {
        for (given, back) in [
            ("0", "0"),
            ("-0.00", "0"),
            ("12", "12"),
            ("10000", "10000"),
            ("123456789.000000001", "123456789.000000001"),
            ("-0.0001", "-0.0001"),
            ("0.00001234", "0.00001234"),
            ("1.50", "1.5"),
            (
                "99999999999999999999.99999999999999999999",
                "99999999999999999999.99999999999999999999",
            ),
            ("1.5E-7", "0.00000015"),
        ] {
            assert_eq!(round_trip(given), back, "{given}");
        }
    }

    #[test]
    fn text_that_is_not_a_number_is_refused() {
        let mut out = bytes_out::Out::new();
        assert!(encode("12abc", &mut out).is_err());
        assert!(encode("", &mut out).is_err());
        assert!(decode(&[0, 0]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_decimal_round_trips(int in 0u64..u64::MAX, frac in "[0-9]{0,30}", neg: bool) {
            let text = format!("{}{int}{}{frac}", if neg { "-" } else { "" }, if frac.is_empty() { "" } else { "." });
            let expected: bigdecimal::BigDecimal = text.parse().unwrap();
            let back: bigdecimal::BigDecimal = round_trip(&text).parse().unwrap();
            proptest::prop_assert_eq!(back, expected);
        }
    }
}
