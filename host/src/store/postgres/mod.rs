//! The PostgreSQL engine, for a team's shared store: connecting (TLS,
//! verified against the system's trust store, for any host that is not
//! this machine), the versioned schema, and per-job advisory locks.
//!
//! The schema is tracked in `agent_host_schema`; a database holding other
//! tables and no such row is someone else's and is refused untouched, as is
//! a schema newer than this build. Migrations run under a transaction-level
//! advisory lock, so machines upgrading at once apply each step once.

pub mod numeric;

use postgres::config::{Host, SslMode};
use postgres::Client;

use super::{Result, StoreError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];

/// The newest schema version this build knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// The advisory-lock key space of agent-host ("agnt"), so its locks never
/// collide with another application's on a shared server.
pub const LOCK_SPACE: i32 = 0x6167_6e74;
/// The lock migrations and every write transaction take: one writer at a
/// time, like SQLite's `BEGIN IMMEDIATE`, so concurrent machines queue
/// instead of deadlocking.
pub const WRITE_LOCK: i32 = 1;

/// `url` with its password replaced, fit to show.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "the configured PostgreSQL URL".into(),
    }
}

/// Connects to the server `url` names. TLS is required for every host but
/// this machine's loopback and Unix sockets (`sslmode=disable` toward
/// another host is refused), and the server's certificate is verified.
pub fn connect(url: &str) -> Result<Client> {
    let shown = redacted(url);
    let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        StoreError::Url(format!("{shown} is not a PostgreSQL URL: {}", scrub(&e.to_string(), url)))
    })?;
    let remote = config.get_hosts().iter().any(|h| match h {
        Host::Tcp(name) => !is_loopback(name.as_str()),
        #[cfg(unix)]
        Host::Unix(_) => false,
    });
    if remote {
        if config.get_ssl_mode() == SslMode::Disable {
            return Err(StoreError::Url(format!(
                "{shown}: sslmode=disable toward another machine would send the password and \
                 every row in clear"
            )));
        }
        // `prefer` (the default) would fall back to clear text: require.
        config.ssl_mode(SslMode::Require);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.application_name("agent-host");
    let client = if config.get_ssl_mode() == SslMode::Disable {
        config.connect(postgres::NoTls)
    } else {
        config.connect(tls()?)
    };
    client.map_err(|e| StoreError::Unreachable(format!("{shown}: {}", scrub(&e.to_string(), url))))
}

/// Text from the driver with any part of `url`'s password removed.
fn scrub(text: &str, url: &str) -> String {
    match url::Url::parse(url).ok().and_then(|u| u.password().map(str::to_string)) {
        Some(p) if !p.is_empty() => {
            let decoded = percent_decode(&p);
            text.replace(&p, "***").replace(&decoded, "***")
        }
        _ => text.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| StoreError::Unreachable(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The schema version stored, `0` for an empty database; a database with
/// other tables and no version of ours is refused, and so is a newer one.
/// One statement, so one snapshot: never half of another machine's
/// migration.
fn version_of(client: &mut impl postgres::GenericClient, shown: &str) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT to_regclass('agent_host_schema') IS NOT NULL,
                    (SELECT count(*) FROM information_schema.tables
                      WHERE table_schema = current_schema())",
            &[],
        )
        .map_err(|e| StoreError::postgres("read the schema version", e))?;
    let (ours, tables): (bool, i64) = (row.get(0), row.get(1));
    if !ours {
        if tables > 0 {
            return Err(StoreError::Foreign { at: shown.to_string() });
        }
        return Ok(0);
    }
    let v: Option<i64> = client
        .query_one("SELECT max(version) FROM agent_host_schema", &[])
        .map_err(|e| StoreError::postgres("read the schema version", e))?
        .get(0);
    let v = v.unwrap_or(0);
    if v > LATEST {
        return Err(StoreError::TooNew { at: shown.to_string(), found: v, known: LATEST });
    }
    Ok(v)
}

/// Brings the schema up to date, one transaction per step, each judged
/// and applied under the migration lock (machines starting at once on an
/// empty database: one creates the schema, the others then find it).
pub fn migrate(client: &mut Client, shown: &str) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let step = i as i64 + 1;
        let what = format!("apply schema step {step}");
        let mut tx = client.transaction().map_err(|e| StoreError::postgres(&what, e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_SPACE, &WRITE_LOCK])
            .map_err(|e| StoreError::postgres(&what, e))?;
        if version_of(&mut tx, shown)? >= step {
            continue;
        }
        tx.batch_execute(sql).map_err(|e| StoreError::postgres(&what, e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS agent_host_schema (version BIGINT PRIMARY KEY, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(|e| StoreError::postgres(&what, e))?;
        tx.execute("INSERT INTO agent_host_schema (version) VALUES ($1)", &[&step])
            .map_err(|e| StoreError::postgres(&what, e))?;
        tx.commit().map_err(|e| StoreError::postgres(&what, e))?;
    }
    Ok(())
}

/// Refuses a database that is not ours or is newer than this build; its
/// schema version otherwise.
pub fn check(client: &mut Client, shown: &str) -> Result<i64> {
    version_of(client, shown)
}

/// Tries to take job `name`'s lock for this session: `false` when another
/// machine (or process) holds it. Released by [`unlock_job`], or by the
/// server when the connection ends, however it ends.
pub fn try_lock_job(client: &mut Client, name: &str) -> Result<bool> {
    client
        .query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&(LOCK_SPACE + 1), &name])
        .map(|r| r.get(0))
        .map_err(|e| StoreError::postgres("take a job's lock", e))
}

/// Releases job `name`'s lock.
pub fn unlock_job(client: &mut Client, name: &str) -> Result<()> {
    client
        .execute("SELECT pg_advisory_unlock($1, hashtext($2))", &[&(LOCK_SPACE + 1), &name])
        .map(|_| ())
        .map_err(|e| StoreError::postgres("release a job's lock", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let url = "postgres://team:s3cr%40t-pass@db.example.com:5432/usage";
        assert_eq!(redacted(url), "postgres://team:***@db.example.com:5432/usage");
        assert_eq!(scrub("auth failed for s3cr@t-pass", url), "auth failed for ***");
    }

    #[test]
    fn clear_text_toward_another_machine_is_refused_before_connecting() {
        let Err(err) = connect("postgres://u:secretpw@192.0.2.1/db?sslmode=disable") else {
            panic!("connected in clear text toward another machine")
        };
        assert!(matches!(err, StoreError::Url(_)), "{err}");
        assert!(!err.to_string().contains("secretpw"), "{err}");
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.1"));
    }

    /// A fresh database on the test server, or `None` outside CI without
    /// one (under `CI=true` its absence fails the test).
    fn scratch(tag: &str) -> Option<(Client, String)> {
        let Ok(server) = std::env::var("AGENT_TEST_PG_URL") else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI=true needs AGENT_TEST_PG_URL"
            );
            return None;
        };
        let name = format!("schema_{tag}_{}", std::process::id());
        let mut admin = connect(&server).unwrap();
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
        Some((connect(&url).unwrap(), url))
    }

    #[test]
    fn a_foreign_or_newer_database_is_refused_and_left_untouched() {
        let Some((mut other, _)) = scratch("foreign") else { return };
        other.batch_execute("CREATE TABLE notes (body TEXT)").unwrap();
        assert!(matches!(migrate(&mut other, "db"), Err(StoreError::Foreign { .. })));
        let tables: i64 = other
            .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", &[])
            .unwrap()
            .get(0);
        assert_eq!(tables, 1, "nothing was created beside another application's table");

        let Some((mut ours, _)) = scratch("newer") else { return };
        migrate(&mut ours, "db").unwrap();
        migrate(&mut ours, "db").unwrap();
        ours.batch_execute("INSERT INTO agent_host_schema (version) VALUES (99)").unwrap();
        let err = migrate(&mut ours, "db").unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }
}
