//! A private PostgreSQL cluster run from the machine's PostgreSQL binaries.
//!
//! Layout under the base dir: `postgres/` (data directory), `run/` (Unix socket directory),
//! `postgres.log` (server log) and `.lock` (serialises processes that start the cluster at once).
//! The server has no TCP listener, so several clusters can run side by side without port clashes.

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Gid, Pid, Uid, User};

/// Only names the socket file (`.s.PGSQL.5432`); there is no TCP listener.
const PORT: &str = "5432";
/// `sun_path` holds 108 bytes including the terminating NUL.
const SOCKET_PATH_MAX: usize = 107;
const TIMEOUT_SECS: u64 = 60;

/// A private cluster. Dropping it does not stop the server: the caller decides when to stop.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    base: PathBuf,
    data: PathBuf,
    run: PathBuf,
    /// Directory holding the PostgreSQL binaries; empty means look them up on `PATH`.
    bin: PathBuf,
    /// The `postgres` system user (uid, gid, home) that children run as when we are root.
    owner: Option<(Uid, Gid, PathBuf)>,
    /// Started with fsync and friends off (see [`EmbeddedPostgres::start_throwaway`]).
    throwaway: bool,
}

impl EmbeddedPostgres {
    /// Initialise (initdb, first time only) and start the cluster under `base_dir`, or reuse it if
    /// it is already running (started by another process). Waits until it accepts connections.
    pub fn start(base_dir: &Path) -> Result<Self> {
        Self::start_with(base_dir, false)
    }

    /// Like [`EmbeddedPostgres::start`], but a server this call starts runs with `fsync`,
    /// `synchronous_commit` and `full_page_writes` off: faster, and a machine crash can corrupt
    /// the data. Only for throwaway clusters such as the tests'. A server that is already running
    /// keeps the settings it was started with.
    pub fn start_throwaway(base_dir: &Path) -> Result<Self> {
        Self::start_with(base_dir, true)
    }

    fn start_with(base_dir: &Path, throwaway: bool) -> Result<Self> {
        at(fs::create_dir_all(base_dir), "creating", base_dir)?;
        let base = at(base_dir.canonicalize(), "resolving", base_dir)?;
        let run = base.join("run");
        let socket = run.join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > SOCKET_PATH_MAX {
            bail!(
                "the PostgreSQL socket path {} is longer than {SOCKET_PATH_MAX} bytes; \
                 choose a shorter data directory",
                socket.display()
            );
        }
        // PostgreSQL refuses to run as root, so root hands the cluster to the `postgres` user.
        let root = Uid::effective().is_root();
        let owner = root.then(|| postgres_user(&base)).transpose()?;
        let bin = find_bin_dir().unwrap_or_default();
        let data = base.join("postgres");
        let pg = Self {
            base,
            data,
            run,
            bin,
            owner,
            throwaway,
        };
        let _lock = pg.lock()?;
        at(fs::create_dir_all(&pg.run), "creating", &pg.run)?;
        pg.chown(&pg.base)?;
        pg.chown(&pg.run)?;
        if !pg.data.join("PG_VERSION").exists() {
            pg.initdb()?;
        }
        if pg.is_running()? {
            tracing::info!(data = %pg.data.display(), "reusing running PostgreSQL");
        } else {
            pg.start_server()?;
        }
        pg.wait_ready()?;
        Ok(pg)
    }

    /// Create database `name` if it does not exist yet (idempotent, safe if two processes race).
    pub fn ensure_database(&self, name: &str) -> Result<()> {
        let valid_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        if name.is_empty() || name.len() > 63 || !name.bytes().all(valid_byte) {
            bail!("invalid database name {name:?}: use 1 to 63 characters from [a-z0-9_]");
        }
        let _lock = self.lock()?;
        let query = format!("select 1 from pg_database where datname = '{name}'");
        let mut psql = self.client("psql");
        let out = checked(psql.args(["-X", "-d", "postgres", "-tAc", &query]))?;
        if String::from_utf8_lossy(&out.stdout).trim() == "1" {
            return Ok(());
        }
        let mut createdb = self.client("createdb");
        let out = output(createdb.arg(name))?;
        // Our lock covers our processes only; a client outside it may have won the race.
        if out.status.success() || String::from_utf8_lossy(&out.stderr).contains("already exists") {
            tracing::info!(database = name, "created database");
            return Ok(());
        }
        bail!("{}", failure(&createdb, &out))
    }

    /// A libpq connection URL for `database` over the Unix socket, user `postgres`, e.g.
    /// `postgresql://postgres@/keyward?host=%2Fabs%2Fdata%2Frun&port=5432`. The explicit port
    /// stops a `PGPORT` in the environment from pointing libpq at another socket name.
    pub fn url(&self, database: &str) -> String {
        let host = percent_encode(self.run.as_os_str().as_bytes());
        let database = percent_encode(database.as_bytes());
        format!("postgresql://postgres@/{database}?host={host}&port={PORT}")
    }

    /// Fast shutdown (`pg_ctl stop -m fast`). Idempotent.
    pub fn stop(&self) -> Result<()> {
        let _lock = self.lock()?;
        if !self.is_running()? {
            return Ok(());
        }
        let timeout = TIMEOUT_SECS.to_string();
        match checked(self.pg_ctl("stop").args(["-m", "fast", "-t", &timeout])) {
            Err(_) if !self.is_running()? => Ok(()),
            Err(err) => Err(err),
            Ok(_) => {
                tracing::info!(data = %self.data.display(), "stopped PostgreSQL");
                Ok(())
            }
        }
    }

    /// Initialises into a scratch directory and renames it into place, so an interrupted initdb
    /// never leaves a half-made data directory that looks finished.
    fn initdb(&self) -> Result<()> {
        let tmp = self.base.join("postgres.initdb");
        let attempt = |locale: &str| {
            if tmp.exists() {
                at(fs::remove_dir_all(&tmp), "removing", &tmp)?;
            }
            let mut cmd = self.cmd("initdb");
            cmd.args(["--auth=trust", "--username=postgres", "--encoding=UTF8"]);
            checked(cmd.args([locale, "-D"]).arg(&tmp))
        };
        tracing::info!(data = %self.data.display(), "initialising PostgreSQL cluster");
        if let Err(err) = attempt("--locale=C.UTF-8") {
            tracing::warn!("initdb with C.UTF-8 failed, retrying with --no-locale: {err:#}");
            attempt("--no-locale")?;
        }
        // Our settings live in keyward.conf, rewritten on every start. `include`, not
        // `include_if_exists`: a missing file must not silently open the default TCP port.
        let conf = tmp.join("postgresql.conf");
        let text =
            at(fs::read_to_string(&conf), "reading", &conf)? + "\ninclude = 'keyward.conf'\n";
        at(fs::write(&conf, text), "writing", &conf)?;
        at(fs::rename(&tmp, &self.data), "renaming into place", &tmp)
    }

    fn write_conf(&self) -> Result<()> {
        let run = self.run.to_string_lossy();
        let run = run.replace('\\', "\\\\").replace('\'', "''");
        let mut conf = format!(
            "# Written by Keyward on every start; edits are lost.\nlisten_addresses = ''\n\
             port = {PORT}\nunix_socket_directories = '{run}'\nmax_connections = 200\n"
        );
        if self.throwaway {
            // A machine crash can corrupt the data.
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let path = self.data.join("keyward.conf");
        at(fs::write(&path, conf), "writing", &path)?;
        self.chown(&path)
    }

    fn start_server(&self) -> Result<()> {
        self.write_conf()?;
        let log = self.base.join("postgres.log");
        let timeout = TIMEOUT_SECS.to_string();
        let attempt = || {
            self.remove_stale_lock_file(&self.data.join("postmaster.pid"))?;
            self.remove_stale_lock_file(&self.run.join(format!(".s.PGSQL.{PORT}.lock")))?;
            let mut cmd = self.pg_ctl("start");
            checked(cmd.args(["-w", "-t", &timeout, "-l"]).arg(&log))
        };
        tracing::info!(data = %self.data.display(), "starting PostgreSQL");
        if let Err(err) = attempt() {
            // Backends orphaned by a killed postmaster can hold the old shared memory briefly.
            tracing::warn!("starting PostgreSQL failed, retrying once: {err:#}");
            sleep(Duration::from_secs(2));
            attempt().map_err(|err| anyhow!("{err:#}\n{}", self.log_tail()))?;
        }
        Ok(())
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(TIMEOUT_SECS);
        loop {
            let out = output(self.client("pg_isready").args(["-d", "postgres"]))?;
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let msg = String::from_utf8_lossy(&out.stdout);
                let msg = msg.trim();
                bail!("PostgreSQL is not ready: {msg}\n{}", self.log_tail());
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn is_running(&self) -> Result<bool> {
        let mut cmd = self.pg_ctl("status");
        let out = output(&mut cmd)?;
        match out.status.code() {
            // pg_ctl only checks that the pid file names a live pid; it may be a zombie or reused.
            Some(0) => Ok(!self.remove_stale_lock_file(&self.data.join("postmaster.pid"))?),
            Some(3) => Ok(false),
            _ => bail!("{}", failure(&cmd, &out)),
        }
    }

    /// Removes the lock file at `path` (`postmaster.pid`, or the socket's `.lock`) if the pid in
    /// it is not a live PostgreSQL process: PostgreSQL itself trusts any live pid, including a
    /// zombie or an unrelated process that reused the pid after a crash. Returns whether it did.
    fn remove_stale_lock_file(&self, path: &Path) -> Result<bool> {
        let Ok(text) = fs::read_to_string(path) else {
            return Ok(false);
        };
        let pid: Option<i32> = text.lines().next().and_then(|l| l.trim().parse().ok());
        match pid {
            Some(pid) if !is_live_postgres(pid) => {
                tracing::warn!(pid, "removing stale {}", path.display());
                at(fs::remove_file(path), "removing", path)?;
                Ok(true)
            }
            _ => Ok(false), // a live server, or garbage that PostgreSQL reports itself
        }
    }

    fn log_tail(&self) -> String {
        let path = self.base.join("postgres.log");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- tail of {} ---\n{tail}", path.display())
    }

    /// Held while initialising, starting, stopping and creating databases. Rust opens files
    /// close-on-exec, so the postmaster never inherits (and keeps) the lock.
    fn lock(&self) -> Result<File> {
        let path = self.base.join(".lock");
        let opened = File::options().append(true).create(true).open(&path);
        let file = at(opened, "opening", &path)?;
        at(file.lock(), "locking", &path)?;
        Ok(file)
    }

    fn chown(&self, path: &Path) -> Result<()> {
        let Some((uid, gid, _)) = &self.owner else {
            return Ok(());
        };
        let (uid, gid) = (Some(uid.as_raw()), Some(gid.as_raw()));
        at(chown(path, uid, gid), "chown", path)
    }

    /// A command for one of the PostgreSQL binaries, run as the cluster's owner from the base dir
    /// (the owner may not be able to read our cwd), without `PG*` variables that could redirect it,
    /// and in the C locale so that messages we match ("already exists") are in English.
    fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(&self.base).env("LC_ALL", "C");
        for (key, _) in std::env::vars_os().filter(|(k, _)| k.as_bytes().starts_with(b"PG")) {
            cmd.env_remove(key);
        }
        if let Some((uid, gid, home)) = &self.owner {
            cmd.uid(uid.as_raw()).gid(gid.as_raw()).env("HOME", home);
        }
        cmd
    }

    fn pg_ctl(&self, action: &str) -> Command {
        let mut cmd = self.cmd("pg_ctl");
        cmd.args([action, "-s", "-D"]).arg(&self.data);
        cmd
    }

    fn client(&self, program: &str) -> Command {
        let mut cmd = self.cmd(program);
        cmd.arg("-h").arg(&self.run);
        cmd.args(["-p", PORT, "-U", "postgres"]);
        cmd
    }
}

/// Looks up the `postgres` system user and checks it can reach `base`: every parent directory
/// needs the search (x) bit for it, or PostgreSQL fails with a puzzling "permission denied".
fn postgres_user(base: &Path) -> Result<(Uid, Gid, PathBuf)> {
    let user = User::from_name("postgres")?.ok_or_else(|| {
        anyhow!(
            "running as root, but PostgreSQL refuses to run as root and there is no `postgres` \
             system user: install Debian's `postgresql` package or run as a non-root user"
        )
    })?;
    for dir in base.ancestors().skip(1) {
        let meta = at(fs::metadata(dir), "reading", dir)?;
        let mode = meta.mode();
        let ok = mode & 0o001 != 0
            || (meta.uid() == user.uid.as_raw() && mode & 0o100 != 0)
            || (meta.gid() == user.gid.as_raw() && mode & 0o010 != 0);
        if !ok {
            bail!(
                "the postgres user cannot traverse {} (mode {:o}); choose a KEYWARD_DATA_DIR that \
                 the postgres user can traverse, e.g. under /var/lib or /tmp",
                dir.display(),
                mode & 0o7777
            );
        }
    }
    Ok((user.uid, user.gid, user.dir))
}

/// Whether `pid` is a running PostgreSQL process: not gone, not a zombie (some container inits
/// never reap the daemonised postmaster) and not another program that reused the pid.
fn is_live_postgres(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true; // no /proc to ask: trust kill()
    };
    // Format: "pid (comm) state ..."; comm may itself contain ')'.
    let (head, tail) = stat.rsplit_once(')').unwrap_or_default();
    let comm = head.split_once('(').map_or("", |(_, c)| c);
    let state = tail.trim_start().chars().next();
    matches!(comm, "postgres" | "postmaster") && !matches!(state, Some('Z' | 'X'))
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), if there is one.
fn find_bin_dir() -> Option<PathBuf> {
    let entries = fs::read_dir("/usr/lib/postgresql").ok()?;
    let versions = entries.filter_map(|entry| {
        let entry = entry.ok()?;
        let name = entry.file_name().into_string().ok()?;
        let major: u32 = name.split('.').next()?.parse().ok()?;
        let bin = entry.path().join("bin");
        bin.join("pg_ctl").is_file().then_some((major, bin))
    });
    versions.max().map(|(_, bin)| bin)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (libpq decodes `%XX`).
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'-' | b'.' | b'_' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                out.push(b.into())
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Adds the action and path to an I/O error.
fn at<T>(result: io::Result<T>, action: &str, path: &Path) -> Result<T> {
    result.with_context(|| format!("{action} {}", path.display()))
}

fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .with_context(|| format!("running `{}`", describe(cmd)))
}

/// Runs `cmd`; a non-zero exit becomes an error carrying the command, its status and stderr.
fn checked(cmd: &mut Command) -> Result<Output> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!("{}", failure(cmd, &out));
    }
    Ok(out)
}

fn failure(cmd: &Command, out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    format!("`{}` failed ({}): {stderr}", describe(cmd), out.status)
}

fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line = line + " " + &arg.to_string_lossy();
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_encodes_all_but_unreserved() {
        let encoded = super::percent_encode("/a b/x-y_z.~'".as_bytes());
        assert_eq!(encoded, "%2Fa%20b%2Fx-y_z.~%27");
    }
}
