//! `DurableTable` over a real PostgreSQL 15: a throwaway server this test starts itself (`initdb`
//! into a temporary directory, as the `postgres` user when run as root; `pg_ctl start` on
//! 127.0.0.1) and stops when it ends. With `IRIS_TASK_POSTGRES_URL` set it uses that server
//! instead. With neither, it says loudly that it skipped, and under `CI=true` it fails.
//!
//! One test runs everything against one server (a server per test would cost seconds each):
//! the whole store suite SQLite runs (`suite/mod.rs`: 200 replays reopened at random points,
//! tasks in every state, refused calls, failed commits, groups, poisoning, flat storage, every
//! corrupt row kind, a newer schema), then one writer per database, then kill -9 at least 50
//! times, each recovery exact.
#![cfg(all(feature = "postgres", unix))]

mod suite;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iris_task::{DurableTable, PostgresStore, StoreError};
use postgres::{Client, NoTls};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use suite::Backend;
use workload::run_child;

/// A server this test started, stopped when dropped.
struct Server {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(dir) = self.data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Server {
    /// `program` from PostgreSQL's bin directory, run as `postgres` when this test runs as root
    /// (initdb and the server refuse root).
    fn command(&self, program: &str) -> Command {
        command(&self.bin, program, self.as_postgres)
    }

    fn params(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={database}",
            self.port
        )
    }
}

fn command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

/// Where the server is: a URL from the environment, or one started here. `None`: none can be had.
enum Where {
    Url(String),
    Started(Server),
}

fn start() -> Result<Where, String> {
    if let Ok(url) = std::env::var("IRIS_TASK_POSTGRES_URL") {
        return Ok(Where::Url(url));
    }
    let bin = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|err| format!("pg_config: {err}"))?;
    let bin = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim());
    if !bin.join("initdb").exists() {
        return Err(format!("no initdb in {}", bin.display()));
    }
    let as_postgres = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false);
    let dir = std::env::temp_dir().join(format!("iris-task-postgres-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
    let data = dir.join("data");
    if as_postgres {
        let status = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir)
            .status();
        if !status.is_ok_and(|status| status.success()) {
            return Err("cannot hand the temporary directory to the postgres user".to_owned());
        }
    }
    let initdb = command(&bin, "initdb", as_postgres)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--locale=C",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|err| format!("initdb: {err}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| err.to_string())?;
    let server = Server {
        bin,
        data: data.clone(),
        as_postgres,
        port,
    };
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1",
        dir.display()
    );
    let started = server
        .command("pg_ctl")
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("server.log"))
        .args(["-w", "start"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|err| format!("pg_ctl: {err}"))?;
    if !started.status.success() {
        return Err(format!(
            "pg_ctl start: {}",
            String::from_utf8_lossy(&started.stderr)
        ));
    }
    Ok(Where::Started(server))
}

/// A fresh database on the server, and its connection parameters. Its name carries a prefix and
/// this process's id, so that a server named by `IRIS_TASK_POSTGRES_URL` loses no database of its
/// own. It sorts text by ICU's linguistic rules where the server has them (the default of many
/// installations), not bytewise: the store must not depend on the database's collation.
fn database(server: &Where, name: &str) -> String {
    let name = format!("iris_task_test_{}_{name}", std::process::id());
    let admin = match server {
        Where::Url(url) => url.clone(),
        Where::Started(server) => server.params("postgres"),
    };
    let mut client = Client::connect(&admin, NoTls).expect("the server answers");
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .expect("no old database");
    let linguistic = format!(
        "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    );
    if let Err(err) = client.batch_execute(&linguistic) {
        eprintln!("*** this PostgreSQL has no ICU ({err}): database {name} sorts bytewise");
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("a database");
    }
    match server {
        Where::Url(url) => with_database(url, &name),
        Where::Started(server) => server.params(&name),
    }
}

/// `params` (libpq's `key=value` form, or a `postgresql://` URL) naming database `name`.
fn with_database(params: &str, name: &str) -> String {
    match params.split_once("://") {
        Some((scheme, rest)) => {
            let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
            let authority = rest.split('/').next().unwrap_or_default();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            format!("{scheme}://{authority}/{name}{query}")
        }
        None => format!("{params} dbname={name}"),
    }
}

#[test]
fn postgres_store_suite() {
    let server = match start() {
        Ok(server) => server,
        Err(why) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("no PostgreSQL server for the store tests, and CI=true: {why}")
        }
        Err(why) => {
            eprintln!(
                "\n*** SKIPPED: the PostgreSQL store tests: no server ({why}).\n*** Install PostgreSQL 15 or set IRIS_TASK_POSTGRES_URL; under CI=true this fails.\n"
            );
            return;
        }
    };
    let admin = match &server {
        Where::Url(url) => url.clone(),
        Where::Started(started) => started.params("postgres"),
    };
    let version: String = Client::connect(&admin, NoTls)
        .expect("the server answers")
        .query_one("SHOW server_version_num", &[])
        .expect("a version")
        .get(0);
    let version: u32 = version.parse().expect("a number");
    println!("PostgreSQL server version {version}");
    assert!(
        version >= 150_000,
        "the store is proven on PostgreSQL 15 or later, not {version}"
    );
    let backend = Postgres { server: &server };
    suite::all(&backend, 200);
    one_writer(&server);
    kill_9_recoveries_are_exact(&server);
}

/// The suite's places are databases on the server, made afresh for each use.
struct Postgres<'a> {
    server: &'a Where,
}

impl Backend for Postgres<'_> {
    type Store = PostgresStore;
    const NAME: &'static str = "PostgreSQL";
    const INT: &'static str = "BIGINT";
    const BYTE: &'static str = r"'\x78'::bytea";

    fn fresh(&self, name: &str) -> String {
        database(self.server, &name.replace('-', "_"))
    }
    fn open(&self, place: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect(place)
    }
    fn side(&self, place: &str, sql: &str) {
        Client::connect(place, NoTls)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    }
    fn read(&self, place: &str, sql: &str) -> i64 {
        Client::connect(place, NoTls)
            .unwrap()
            .query_one(sql, &[])
            .unwrap()
            .get(0)
    }
    fn failing_insert(&self, task: &str) -> String {
        format!(
            "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'disk full'; END $$; \
             CREATE TRIGGER full_disk BEFORE INSERT ON tasks FOR EACH ROW \
             WHEN (NEW.task_id = '{task}') EXECUTE FUNCTION full_disk();"
        )
    }
    fn unchecked(&self, sql: &str) -> String {
        format!("SET session_replication_role = replica; {sql}")
    }
    /// What autovacuum would do in time, now: dead rows' room made reusable. Then the bytes of
    /// the store's tables with their indexes.
    fn settled_bytes(&self, place: &str) -> u64 {
        let mut client = Client::connect(place, NoTls).unwrap();
        client.batch_execute("VACUUM").unwrap();
        let bytes: i64 = client
            .query_one(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind = 'r'",
                &[],
            )
            .unwrap()
            .get(0);
        bytes as u64
    }
}

fn one_writer(server: &Where) {
    let params = database(server, "locked");
    let first = PostgresStore::connect(&params).unwrap();
    let started = Instant::now();
    match PostgresStore::connect(&params) {
        Err(StoreError::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "it waited for a lingering session first"
    );
    drop(first);
    assert!(
        PostgresStore::connect(&params).is_ok(),
        "the lock goes with the session"
    );
}

/// The child of the kill -9 harness: the same workload as `crash.rs` (batches and groups),
/// against PostgreSQL.
#[test]
fn crash_child() {
    let (Ok(params), Ok(seed), Ok(from)) = (
        std::env::var("IRIS_CRASH_POSTGRES"),
        std::env::var("IRIS_CRASH_SEED"),
        std::env::var("IRIS_CRASH_FROM"),
    ) else {
        return; // Not a child: nothing to do.
    };
    let (seed, from): (u64, u64) = (seed.parse().unwrap(), from.parse().unwrap());
    let mut table = DurableTable::open(PostgresStore::connect(&params).unwrap()).unwrap();
    workload::drive(&mut table, seed, from);
}

fn kill_9_recoveries_are_exact(server: &Where) {
    let kills: u32 = std::env::var("IRIS_CRASH_POSTGRES_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(13);
    let (mut total, mut exact, mut in_flight) = (0u32, 0u32, 0u32);
    let mut progress = 0u64;
    let seeds = 2u32;
    for seed in 0..seeds {
        let params = database(server, &format!("crash_{seed}"));
        let mut done = 0u64;
        for _ in 0..kills.div_ceil(seeds) {
            let target = done + rng.random_range(0..8);
            let delay = Duration::from_micros(rng.random_range(0..5_000));
            let env = [
                ("IRIS_CRASH_POSTGRES", params.clone()),
                ("IRIS_CRASH_SEED", seed.to_string()),
                ("IRIS_CRASH_FROM", done.to_string()),
            ];
            let acked = run_child("crash_child", &env, target, delay);
            total += 1;
            let last = acked.map_or(done, |n| n + 1);
            let recovered = DurableTable::open(PostgresStore::connect(&params).unwrap()).unwrap();
            // Panics unless the recovery equals the replay of `last` or `last + 1` calls.
            let now = workload::recovered(recovered.table(), u64::from(seed), last);
            in_flight += u32::from(now > last);
            progress += now - done;
            done = now;
            drop(recovered);
            exact += 1;
        }
    }
    let kills = total;
    println!(
        "PostgreSQL: {kills} kills, {exact} recoveries exact ({in_flight} with the call in flight committed), {} lost, in {:.1} s",
        kills - exact,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(exact, kills);
    assert!(
        progress > u64::from(kills),
        "the children made progress: {progress} calls in all"
    );
    assert!(
        in_flight > 0,
        "some kill came inside a transaction that then committed"
    );
}
