//! `dec_sum(text)`: an exact SQL aggregate over decimal text, so money is
//! summed inside SQLite without ever becoming a float, at any precision.

use bigdecimal::{BigDecimal, Zero};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{Connection, Error};

use crate::billing::money::{parse_stored, Money};

struct DecSum;

impl Aggregate<BigDecimal, Option<String>> for DecSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<BigDecimal> {
        Ok(BigDecimal::zero())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut BigDecimal) -> rusqlite::Result<()> {
        let Some(text) = ctx.get::<Option<String>>(0)? else {
            return Ok(());
        };
        let value = parse_stored(&text)
            .map_err(|e| Error::UserFunctionError(format!("dec_sum: {e}").into()))?;
        *acc += value;
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<BigDecimal>,
    ) -> rusqlite::Result<Option<String>> {
        Ok(Some(Money::from_decimal(acc.unwrap_or_default()).to_stored()))
    }
}

/// Registers `dec_sum` on `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_aggregate_function(
        "dec_sum",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        DecSum,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exactly() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let sum: String = conn
            .query_row(
                "SELECT dec_sum(v) FROM (SELECT '0.1' v UNION ALL SELECT '0.2' UNION ALL SELECT NULL)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sum, "0.3");
    }

    #[test]
    fn sums_beyond_28_digits_without_overflow() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let sum: String = conn
            .query_row(
                "SELECT dec_sum(v) FROM (SELECT '12.5' v UNION ALL SELECT '0.00000000000000005551115123125783'
                 UNION ALL SELECT '79228162514264337593543950335' UNION ALL SELECT '79228162514264337593543950335')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sum, "158456325028528675187087900682.50000000000000005551115123125783");
    }
}
