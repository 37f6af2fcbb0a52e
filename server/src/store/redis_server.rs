//! A private `redis-server` process for tests and benchmarks.
//!
//! Each server listens on its own free loopback port and keeps its files (the AOF, if any, and
//! its log) in a directory the caller owns, so tests can run in parallel and need no shared
//! Redis. Dropping a [`RedisServer`] kills the process.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Names a shared Redis for the tests instead of starting one per test.
pub const TEST_REDIS_URL_ENV: &str = "AGORA_TEST_REDIS_URL";

/// How long a server may take to answer PING after it is spawned (an AOF replay included).
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// Fresh ports tried when the server does not come up (another process took the port between
/// our probe and the server's bind).
const PORT_ATTEMPTS: usize = 5;
const LOG_FILE: &str = "redis-server.log";

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    appendonly: bool,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port with its files in `dir`. With `appendonly`
    /// it writes an AOF fsynced every second, so that tests can prove what survives a crash.
    pub fn start(dir: &Path, appendonly: bool) -> io::Result<RedisServer> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let mut server = RedisServer { child: None, port: free_port()?, dir: dir.to_path_buf(), appendonly };
            match server.start_again() {
                Ok(()) => return Ok(server),
                // Not installed: another port will not help.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// The Redis address a test should use, with a key prefix of its own: the shared server
    /// named by `AGORA_TEST_REDIS_URL` when set, else a new `redis-server` (returned, so that
    /// it lives as long as the test holds it) with its files in `dir`.
    pub fn for_test(dir: &Path) -> std::io::Result<(String, Option<RedisServer>)> {
        if let Ok(url) = std::env::var(TEST_REDIS_URL_ENV) {
            if !url.is_empty() {
                return Ok((with_test_prefix(&url), None));
            }
        }
        let server = RedisServer::start(dir, false)?;
        Ok((with_test_prefix(&server.url()), Some(server)))
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id while the server runs, for tests that send it signals.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL, as a crash would: it gets no chance to flush anything.
    pub fn kill(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        child.kill()?;
        child.wait().map(drop)
    }

    /// Stops the server with SIGTERM, so that it shuts down cleanly (flushing its AOF); kills
    /// it if it has not exited after a while.
    pub fn stop(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(io::Error::from)?;
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        child.wait().map(drop)
    }

    /// Starts the server again on the same port and directory (after [`kill`](Self::kill) or
    /// [`stop`](Self::stop)) and waits until it answers, its AOF replayed.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let mut child = self.spawn()?;
        match wait_for_pong(&mut child, self.port) {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::new(e.kind(), format!("{e} (see {})", self.dir.join(LOG_FILE).display())))
            }
        }
    }

    /// Stops the server cleanly and starts it again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.start_again()
    }

    fn spawn(&self) -> io::Result<Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(LOG_FILE))?;
        let appendonly = if self.appendonly { "yes" } else { "no" };
        let port = self.port.to_string();
        #[rustfmt::skip]
        let args = [
            "--port", port.as_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly", appendonly,
            "--appendfsync", "everysec", "--daemonize", "no", "--protected-mode", "no",
        ];
        Command::new("redis-server")
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "redis-server is not on PATH: install it (apt-get install redis-server) \
                         or set {TEST_REDIS_URL_ENV} to a Redis to use"
                    ),
                ),
                _ => e,
            })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// A port nobody listens on now. Another process may take it before the server binds it, which
/// [`RedisServer::start`] survives by trying again.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Polls until the server answers PING with PONG (not `-LOADING` while it replays its AOF).
fn wait_for_pong(child: &mut Child, port: u16) -> io::Result<()> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        // A server that exited (its port taken, say) will never answer.
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("redis-server exited at start: {status}")));
        }
        if ping(port).unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "redis-server did not answer PING in time"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One PING over a plain TCP connection; true when the answer is `+PONG`.
fn ping(port: u16) -> io::Result<bool> {
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Ok(reply.starts_with(b"+PONG"))
}

/// Adds a key prefix of the test's own to `url`, so that tests sharing a Redis never meet.
fn with_test_prefix(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}prefix=test-{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_prefixes_extend_the_query() {
        let plain = with_test_prefix("redis://h:1/0");
        assert!(plain.starts_with("redis://h:1/0?prefix=test-"), "{plain}");
        let queried = with_test_prefix("redis://h:1/0?protocol=resp3");
        assert!(queried.starts_with("redis://h:1/0?protocol=resp3&prefix=test-"), "{queried}");
        assert_ne!(with_test_prefix("redis://h:1/0"), plain);
    }
}
