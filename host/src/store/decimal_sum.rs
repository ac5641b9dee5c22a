//! `dec_sum(text)`: an exact SQL aggregate over decimal text, so money is
//! summed inside SQLite without ever becoming a float.

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{Connection, Error};
use rust_decimal::Decimal;

struct DecSum;

impl Aggregate<Decimal, Option<String>> for DecSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Decimal> {
        Ok(Decimal::ZERO)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Decimal) -> rusqlite::Result<()> {
        let Some(text) = ctx.get::<Option<String>>(0)? else {
            return Ok(());
        };
        let value: Decimal = text.parse().map_err(|e| {
            Error::UserFunctionError(format!("dec_sum: {text:?} is not a decimal: {e}").into())
        })?;
        *acc = acc.checked_add(value).ok_or_else(|| {
            Error::UserFunctionError("dec_sum: the sum overflows 28 digits".into())
        })?;
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<Decimal>,
    ) -> rusqlite::Result<Option<String>> {
        Ok(Some(acc.unwrap_or(Decimal::ZERO).normalize().to_string()))
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
}
