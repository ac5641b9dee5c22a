//! The seam between the queries and the two engines: one SQL text (written
//! in the dialect both SQLite and PostgreSQL accept), bound arguments and
//! read columns as engine-neutral values, and a cache of prepared
//! statements per connection.
//!
//! The query modules (`runs`, `billing`, `reports`, `accounts`, `copy`)
//! only ever see [`Db`], [`Row`] and [`Arg`]; only this module and the two
//! engine modules name `rusqlite` or `postgres`. SQLite spellings that
//! PostgreSQL lacks are rewritten once per statement by [`to_postgres`]:
//! `?N` placeholders and the exact decimal aggregate `dec_sum`, which is
//! PostgreSQL's own `sum` over `NUMERIC`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use super::postgres::numeric;
use super::{Result, StoreError};

/// An engine-neutral value, bound as an argument or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A float (never money).
    Real(f64),
    /// Text; for a `NUMERIC` column of PostgreSQL, its exact decimal text.
    Text(Cow<'a, str>),
}

impl Val<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Int(i) => Val::Int(i),
            Val::Real(f) => Val::Real(f),
            Val::Text(t) => Val::Text(Cow::Owned(t.into_owned())),
        }
    }
}

/// Something that binds as one SQL argument.
pub trait Arg {
    /// The value bound.
    fn val(&self) -> Val<'_>;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn val(&self) -> Val<'_> {
                // Every integer the store binds (counts, token totals, ms)
                // fits in i64; saturating keeps a corrupt one visible.
                Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u64, usize, u16, u8);

impl Arg for bool {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl Arg for f64 {
    fn val(&self) -> Val<'_> {
        Val::Real(*self)
    }
}
impl Arg for str {
    fn val(&self) -> Val<'_> {
        Val::Text(Cow::Borrowed(self))
    }
}
impl Arg for String {
    fn val(&self) -> Val<'_> {
        Val::Text(Cow::Borrowed(self))
    }
}
impl Arg for Val<'_> {
    fn val(&self) -> Val<'_> {
        match self {
            Val::Text(t) => Val::Text(Cow::Borrowed(t)),
            other => other.clone(),
        }
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn val(&self) -> Val<'_> {
        (**self).val()
    }
}
impl<T: Arg> Arg for Option<T> {
    fn val(&self) -> Val<'_> {
        self.as_ref().map_or(Val::Null, Arg::val)
    }
}

/// The arguments of one statement: `args![a, b.to_string()]`.
macro_rules! args {
    () => { &[] as &[&dyn $crate::store::sql::Arg] };
    ($($e:expr),+ $(,)?) => { &[$(&$e as &dyn $crate::store::sql::Arg),+] as &[&dyn $crate::store::sql::Arg] };
}
pub(crate) use args;

/// A value read from a column.
pub trait Col: Sized {
    /// From the column's value; `None` when it does not convert.
    fn from_val(v: Val<'_>) -> Option<Self>;
}

impl Col for i64 {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Int(i) => Some(i),
            // PostgreSQL's `sum(bigint)` is NUMERIC.
            Val::Text(t) => t.parse().ok(),
            _ => None,
        }
    }
}
macro_rules! int_col {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn from_val(v: Val<'_>) -> Option<Self> {
                i64::from_val(v).and_then(|i| <$t>::try_from(i).ok())
            }
        }
    )*};
}
int_col!(i32, u32, u64, usize);
impl Col for bool {
    fn from_val(v: Val<'_>) -> Option<Self> {
        i64::from_val(v).map(|i| i != 0)
    }
}
impl Col for f64 {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Real(f) => Some(f),
            #[allow(clippy::cast_precision_loss)]
            Val::Int(i) => Some(i as f64),
            Val::Text(t) => t.parse().ok(),
            Val::Null => None,
        }
    }
}
impl Col for String {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Text(t) => Some(t.into_owned()),
            Val::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}
impl Col for Val<'static> {
    fn from_val(v: Val<'_>) -> Option<Self> {
        Some(v.into_owned())
    }
}
impl<T: Col> Col for Option<T> {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Null => Some(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// One row of a result.
pub enum Row<'r> {
    /// From SQLite.
    Lite(&'r rusqlite::Row<'r>),
    /// From PostgreSQL.
    Pg(&'r ::postgres::Row),
}

impl Row<'_> {
    /// Column `i`, converted; a value that does not convert is an
    /// [`StoreError::Invalid`] naming the column.
    pub fn get<T: Col>(&self, i: usize) -> Result<T> {
        let v = self.val(i)?;
        let held = match &v {
            Val::Null => "NULL",
            Val::Int(_) => "an integer",
            Val::Real(_) => "a float",
            Val::Text(_) => "text",
        };
        T::from_val(v).ok_or_else(|| {
            StoreError::Invalid(format!(
                "column {i} holds {held}, not {}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Column `i` as read.
    pub fn val(&self, i: usize) -> Result<Val<'_>> {
        match self {
            Row::Lite(r) => {
                use rusqlite::types::ValueRef;
                let v = r.get_ref(i).map_err(|e| StoreError::sqlite("read a column", e))?;
                Ok(match v {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(i) => Val::Int(i),
                    ValueRef::Real(f) => Val::Real(f),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(
                        std::str::from_utf8(t)
                            .map(Cow::Borrowed)
                            .map_err(|_| StoreError::Invalid(format!("column {i} is not UTF-8")))?,
                    ),
                })
            }
            Row::Pg(r) => r
                .try_get::<_, PgCol>(i)
                .map(|c| c.0)
                .map_err(|e| StoreError::Invalid(format!("column {i}: {e}"))),
        }
    }
}

/// A PostgreSQL column read as a [`Val`], whatever its type.
struct PgCol<'a>(Val<'a>);

impl<'a> ::postgres::types::FromSql<'a> for PgCol<'a> {
    fn from_sql(
        ty: &::postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use ::postgres::types::Type;
        let v = match *ty {
            Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Val::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Val::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Val::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Val::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Val::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => Val::Text(Cow::Owned(numeric::decode(raw)?)),
            _ => Val::Text(Cow::Borrowed(<&str>::from_sql(ty, raw)?)),
        };
        Ok(PgCol(v))
    }

    fn from_sql_null(
        _: &::postgres::types::Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgCol(Val::Null))
    }

    fn accepts(_: &::postgres::types::Type) -> bool {
        true
    }
}

/// An argument bound to PostgreSQL, converted to the type the server
/// inferred for its placeholder.
#[derive(Debug)]
struct PgArg<'a>(Val<'a>);

impl ::postgres::types::ToSql for PgArg<'_> {
    fn to_sql(
        &self,
        ty: &::postgres::types::Type,
        out: &mut ::postgres::types::private::BytesMut,
    ) -> std::result::Result<::postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use ::postgres::types::{IsNull, Type};
        let wrong = || format!("cannot bind {:?} as {ty}", self.0).into();
        match (&self.0, ty) {
            (Val::Null, _) => Ok(IsNull::Yes),
            (Val::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Val::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Val::Int(i), &Type::NUMERIC) => {
                numeric::encode(&i.to_string(), out)?;
                Ok(IsNull::No)
            }
            #[allow(clippy::cast_precision_loss)]
            (Val::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Val::Int(i), &Type::TEXT | &Type::VARCHAR) => i.to_string().as_str().to_sql(ty, out),
            (Val::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Val::Text(t), &Type::NUMERIC) => {
                numeric::encode(t, out)?;
                Ok(IsNull::No)
            }
            (Val::Text(t), &Type::INT8) => t.parse::<i64>().map_err(|_| wrong())?.to_sql(ty, out),
            (Val::Text(t), _) => t.as_ref().to_sql(ty, out),
            _ => Err(wrong()),
        }
    }

    fn accepts(_: &::postgres::types::Type) -> bool {
        true
    }

    ::postgres::types::to_sql_checked!();
}

/// Binds arguments for SQLite.
struct LiteArg<'a>(Val<'a>);

impl rusqlite::ToSql for LiteArg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match &self.0 {
            Val::Null => ValueRef::Null,
            Val::Int(i) => ValueRef::Integer(*i),
            Val::Real(f) => ValueRef::Real(*f),
            Val::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

/// A PostgreSQL connection with its prepared statements.
pub struct PgConn {
    /// The session.
    pub client: RefCell<::postgres::Client>,
    /// Statements by their SQLite-dialect text.
    statements: RefCell<HashMap<String, ::postgres::Statement>>,
}

impl PgConn {
    /// Wraps a connected client.
    pub fn new(client: ::postgres::Client) -> PgConn {
        PgConn { client: RefCell::new(client), statements: RefCell::new(HashMap::new()) }
    }

    fn statement(&self, what: &str, sql: &str) -> Result<::postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .client
            .borrow_mut()
            .prepare(&to_postgres(sql))
            .map_err(|e| StoreError::postgres(what, e))?;
        self.statements.borrow_mut().insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// An open connection to one of the engines.
pub enum Db {
    /// The embedded SQLite file.
    Lite(rusqlite::Connection),
    /// A PostgreSQL server (boxed: its client and statement cache are
    /// much larger than an SQLite handle).
    Pg(Box<PgConn>),
}

impl Db {
    /// Runs one statement; the number of rows it changed.
    pub fn exec(&self, what: &str, sql: &str, args: &[&dyn Arg]) -> Result<usize> {
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(|e| StoreError::sqlite(what, e))?;
                stmt.execute(rusqlite::params_from_iter(args.iter().map(|a| LiteArg(a.val()))))
                    .map_err(|e| StoreError::sqlite(what, e))
            }
            Db::Pg(p) => {
                let stmt = p.statement(what, sql)?;
                let vals: Vec<PgArg<'_>> = args.iter().map(|a| PgArg(a.val())).collect();
                let refs: Vec<&(dyn ::postgres::types::ToSql + Sync)> =
                    vals.iter().map(|v| v as &(dyn ::postgres::types::ToSql + Sync)).collect();
                let n = p
                    .client
                    .borrow_mut()
                    .execute(&stmt, &refs)
                    .map_err(|e| StoreError::postgres(what, e))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs a one-row `INSERT … VALUES (?1, …, ?N) …` once per row of
    /// arguments; the rows it changed. SQLite runs the cached statement per
    /// row (no round trip to save). PostgreSQL gets many rows per statement
    /// (`VALUES (…), (…), …`, in chunks of fixed sizes so each is prepared
    /// once): a backfill writes tens of thousands of rows, and one round
    /// trip each cost PostgreSQL five times SQLite's wall time. The rows must
    /// not share a conflict key (PostgreSQL refuses to update a row twice in
    /// one statement): callers pass rows keyed by it.
    pub fn exec_rows(&self, what: &str, sql: &str, rows: &[Vec<Val<'_>>]) -> Result<usize> {
        let (Db::Pg(_), Some(width)) = (self, rows.first().map(Vec::len)) else {
            let mut n = 0;
            for row in rows {
                let args: Vec<&dyn Arg> = row.iter().map(|v| v as &dyn Arg).collect();
                n += self.exec(what, sql, &args)?;
            }
            return Ok(n);
        };
        let (head, tail) = split_values(sql, width).ok_or_else(|| {
            StoreError::Invalid(format!(
                "{what}: not a one-row VALUES statement of {width} columns"
            ))
        })?;
        // PostgreSQL binds at most 65,535 parameters per statement.
        let most = (MAX_ROWS_PER_STATEMENT).min(65_535 / width).max(1);
        let mut n = 0;
        let mut rest = rows;
        while !rest.is_empty() {
            // The largest size of the ladder (most, then powers of two) that fits.
            let size = if rest.len() >= most {
                most
            } else {
                1 << (usize::BITS - 1 - rest.len().leading_zeros())
            };
            let (chunk, after) = rest.split_at(size);
            let sql = multi_row(head, tail, width, size);
            let args: Vec<&dyn Arg> = chunk.iter().flatten().map(|v| v as &dyn Arg).collect();
            n += self.exec(what, &sql, &args)?;
            rest = after;
        }
        Ok(n)
    }

    /// Every row, mapped by `f` and collected.
    pub fn rows<T, C: FromIterator<T>>(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Arg],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<C> {
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(|e| StoreError::sqlite(what, e))?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(args.iter().map(|a| LiteArg(a.val()))))
                    .map_err(|e| StoreError::sqlite(what, e))?;
                let mut err = None;
                let out = std::iter::from_fn(|| match rows.next() {
                    Ok(Some(r)) => match f(&Row::Lite(r)) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            err = Some(e);
                            None
                        }
                    },
                    Ok(None) => None,
                    Err(e) => {
                        err = Some(StoreError::sqlite(what, e));
                        None
                    }
                })
                .collect();
                err.map_or(Ok(out), |e| Err(with_what(what, e)))
            }
            Db::Pg(p) => {
                let stmt = p.statement(what, sql)?;
                let vals: Vec<PgArg<'_>> = args.iter().map(|a| PgArg(a.val())).collect();
                let refs: Vec<&(dyn ::postgres::types::ToSql + Sync)> =
                    vals.iter().map(|v| v as &(dyn ::postgres::types::ToSql + Sync)).collect();
                let rows = p
                    .client
                    .borrow_mut()
                    .query(&stmt, &refs)
                    .map_err(|e| StoreError::postgres(what, e))?;
                rows.iter().map(|r| f(&Row::Pg(r)).map_err(|e| with_what(what, e))).collect()
            }
        }
    }

    /// Calls `f` on each row in turn, until it answers `false`.
    pub fn each(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Arg],
        mut f: impl FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(|e| StoreError::sqlite(what, e))?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(args.iter().map(|a| LiteArg(a.val()))))
                    .map_err(|e| StoreError::sqlite(what, e))?;
                while let Some(r) = rows.next().map_err(|e| StoreError::sqlite(what, e))? {
                    if !f(&Row::Lite(r)).map_err(|e| with_what(what, e))? {
                        break;
                    }
                }
                Ok(())
            }
            Db::Pg(_) => {
                let mut go = true;
                let _: Vec<()> = self.rows(what, sql, args, |r| {
                    if go {
                        go = f(r)?;
                    }
                    Ok(())
                })?;
                Ok(())
            }
        }
    }

    /// The first row, if any, mapped by `f`.
    pub fn row_opt<T>(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Arg],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let all: Vec<T> = self.rows(what, sql, args, f)?;
        Ok(all.into_iter().next())
    }

    /// The one row `sql` returns, mapped by `f`.
    pub fn row<T>(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn Arg],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.row_opt(what, sql, args, f)?
            .ok_or_else(|| StoreError::Invalid(format!("{what}: the query returned no row")))
    }

    /// Statements without arguments, separated by `;` (schema changes).
    pub fn batch(&self, what: &str, sql: &str) -> Result<()> {
        match self {
            Db::Lite(c) => c.execute_batch(sql).map_err(|e| StoreError::sqlite(what, e)),
            Db::Pg(p) => p
                .client
                .borrow_mut()
                .batch_execute(&to_postgres(sql))
                .map_err(|e| StoreError::postgres(what, e)),
        }
    }

    /// Which engine, for the few statements whose spelling differs.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Pg(_))
    }
}

/// The most rows one PostgreSQL statement of [`Db::exec_rows`] carries.
const MAX_ROWS_PER_STATEMENT: usize = 256;

/// An argument list as owned values (a row for [`Db::exec_rows`]).
pub fn owned(args: &[&dyn Arg]) -> Vec<Val<'static>> {
    args.iter().map(|a| a.val().into_owned()).collect()
}

/// `sql`'s text before and after its `VALUES (?1, …, ?N)` tuple, when it
/// has exactly that one tuple of `width` placeholders in order.
fn split_values(sql: &str, width: usize) -> Option<(&str, &str)> {
    let start = sql.find("VALUES (")?;
    let open = start + "VALUES ".len();
    let close = open + sql[open..].find(')')?;
    let tuple: Vec<&str> = sql[open + 1..close].split(',').map(str::trim).collect();
    let in_order =
        tuple.len() == width && tuple.iter().enumerate().all(|(i, p)| *p == format!("?{}", i + 1));
    in_order.then(|| (&sql[..start], &sql[close + 1..]))
}

/// `head VALUES (?1, …, ?w), (?w+1, …, ?2w), … tail` for `rows` rows.
fn multi_row(head: &str, tail: &str, width: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 6);
    sql.push_str(head);
    sql.push_str("VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('?');
            sql.push_str(&(r * width + c + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// Names the read in a conversion error.
fn with_what(what: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid(m) if !m.starts_with(what) => {
            StoreError::Invalid(format!("{what}: {m}"))
        }
        e => e,
    }
}

/// The SQLite-dialect `sql` in PostgreSQL's spelling: `?N` and `?` become
/// `$N`, and `dec_sum(x)` becomes `trim_scale(coalesce(sum(x), 0))`
/// (SQLite's `dec_sum` is 0, never NULL, over no values, and written
/// without trailing zeros; `trim_scale` needs PostgreSQL 13). Quoted text
/// is left alone.
pub fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    // A bare `?` is numbered one past the highest number so far, as SQLite does.
    let mut highest = 0u32;
    let mut chars = sql.char_indices().peekable();
    let mut quote: Option<char> = None;
    // Open parentheses, and whether each closes a `dec_sum`.
    let mut parens: Vec<bool> = Vec::new();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    digits.push(d);
                    chars.next();
                }
                let n = if digits.is_empty() { highest + 1 } else { digits.parse().unwrap_or(0) };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            'd' if sql[i..].starts_with("dec_sum(") && !ident_before(sql, i) => {
                out.push_str("trim_scale(coalesce(sum(");
                parens.push(true);
                for _ in 0.."ec_sum(".len() {
                    chars.next();
                }
            }
            '(' => {
                parens.push(false);
                out.push(c);
            }
            ')' => {
                out.push(c);
                if parens.pop() == Some(true) {
                    out.push_str(", 0))");
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn ident_before(sql: &str, i: usize) -> bool {
    sql[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_the_decimal_sum_are_spelled_for_postgres() {
        assert_eq!(
            to_postgres("SELECT dec_sum(amount), '?x' FROM t WHERE a = ?1 AND b = ?2 OR c = ?"),
            "SELECT trim_scale(coalesce(sum(amount), 0)), '?x' FROM t WHERE a = $1 AND b = $2 OR c = $3"
        );
        assert_eq!(to_postgres("SELECT my_dec_sum(x)"), "SELECT my_dec_sum(x)");
        assert_eq!(
            to_postgres("SELECT (dec_sum(CASE WHEN (a) THEN b END)) FROM t"),
            "SELECT (trim_scale(coalesce(sum(CASE WHEN (a) THEN b END), 0))) FROM t"
        );
    }

    #[test]
    fn columns_convert_where_they_mean_the_same() {
        assert_eq!(i64::from_val(Val::Text("12".into())), Some(12));
        assert_eq!(Option::<String>::from_val(Val::Null), Some(None));
        assert_eq!(String::from_val(Val::Real(1.0)), None);
        assert_eq!(bool::from_val(Val::Int(1)), Some(true));
    }

    #[test]
    fn a_one_row_insert_becomes_chunks_of_many_rows() {
        let sql =
            "INSERT INTO t (a, b) VALUES (?1, ?2) ON CONFLICT (a) DO UPDATE SET b = excluded.b";
        let (head, tail) = split_values(sql, 2).expect("one tuple of two");
        assert_eq!(
            multi_row(head, tail, 2, 3),
            "INSERT INTO t (a, b) VALUES (?1, ?2), (?3, ?4), (?5, ?6) ON CONFLICT (a) DO UPDATE SET b = excluded.b"
        );
        assert!(split_values(sql, 3).is_none(), "a width that does not match");
        assert!(split_values("INSERT INTO t (a) VALUES (?2)", 1).is_none(), "out of order");
        assert!(split_values("DELETE FROM t WHERE a = ?1", 1).is_none());
    }

    /// Every row written once, on the suite's engine, whatever the count
    /// (the chunks' ladder: 256 at most, then powers of two), and an upsert
    /// across chunks updates what an earlier call stored.
    #[test]
    fn exec_rows_writes_every_row_once_on_either_engine() {
        let store = crate::store::Store::for_tests();
        let db = &store.db;
        db.batch("make", "CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT NOT NULL)").unwrap();
        let upsert = "INSERT INTO t (a, b) VALUES (?1, ?2)
                      ON CONFLICT (a) DO UPDATE SET b = excluded.b";
        let rows = |range: std::ops::Range<i64>, b: &str| -> Vec<Vec<Val<'static>>> {
            range.map(|a| owned(args![a, b.to_string()])).collect()
        };
        assert_eq!(db.exec_rows("write", upsert, &[]).unwrap(), 0);
        assert_eq!(db.exec_rows("write", upsert, &rows(0..1, "x")).unwrap(), 1);
        assert_eq!(db.exec_rows("write", upsert, &rows(1..700, "x")).unwrap(), 699);
        assert_eq!(db.exec_rows("write", upsert, &rows(500..777, "y")).unwrap(), 277);
        let count = |b: &str| -> i64 {
            db.row("read", "SELECT count(*) FROM t WHERE b = ?1", args![b], |r| r.get(0)).unwrap()
        };
        assert_eq!((count("x"), count("y")), (500, 277));
        let (min, max): (i64, i64) = db
            .row("read", "SELECT min(a), max(a) FROM t", args![], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((min, max), (0, 776));
    }
}
