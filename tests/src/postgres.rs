//! A PostgreSQL server of the test's own (Debian's binaries, `initdb` in a scratch dir, run as
//! the `postgres` user on a loopback port), for faults that stop the server itself: the lab's
//! shared server on 5432 serves the other tests meanwhile.

use std::path::PathBuf;
use std::process::Command;

use crate::pki::TempDir;

/// A private PostgreSQL server.
pub struct PrivatePostgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    bin: PathBuf,
}

impl PrivatePostgres {
    /// Create a cluster (trust authentication, user `postgres`) and start it.
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path().join("bin")).max())
            .filter(|b| b.join("initdb").exists())
            .expect("PostgreSQL's binaries in /usr/lib/postgresql/*/bin (scripts/test.sh installs them)");
        let dir = TempDir::new("postgres");
        let pg = PrivatePostgres {
            port: crate::servers::free_port(),
            dir,
            bin,
        };
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(pg.dir.path())
            .status()
            .unwrap_or_else(|e| panic!("chown: {e}"));
        assert!(
            status.success(),
            "chown to postgres (the test runs as root)"
        );
        pg.as_postgres(
            "initdb",
            &["-D", "data", "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pg.start_again();
        pg
    }

    /// Run one of PostgreSQL's programs as `postgres`, in the scratch dir; it must succeed.
    fn as_postgres(&self, program: &str, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("runuser {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the server (again), waiting until it takes connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                "data",
                "-l",
                "server.log",
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stop the server (fast shutdown: clients are disconnected), waiting until it is down.
    pub fn stop(&self) {
        self.as_postgres("pg_ctl", &["-D", "data", "-m", "fast", "-w", "stop"]);
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", "data", "-m", "immediate", "-w", "stop"])
            .current_dir(self.dir.path())
            .output();
    }
}
