//! Answers `read_log` commands: a slice of a task's `stdout` or `stderr` from its sandbox,
//! posted back to the master, which relays it to the reader. When nothing is new and the task
//! still runs, the answer waits a while for more output, so readers can follow a task.

use crate::sandbox::Sandbox;
use crate::AgentError;
use agora_api::agent::{LogChunkInfo, ReadLogCommand};
use agora_api::AgentId;
use agora_client::Client;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// The most bytes one answer carries (the master asks for no more either).
pub const MAX_CHUNK_BYTES: u64 = 1024 * 1024;
/// The longest an answer waits for new output.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting answer looks at the file again.
const POLL: Duration = Duration::from_millis(100);

/// Bytes read from a task's output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// Whether the file exists.
    pub found: bool,
    /// Whether the task had ended before the read, so that nothing more can come.
    pub task_ended: bool,
    /// Why the file was not read: it is not a regular file of the task's (the task may have
    /// swapped it for a link to someone else's file, or a FIFO).
    pub refused: Option<String>,
}

/// Reads up to `max_bytes` at `offset` of the output file `stream` in the sandbox at `sandbox`,
/// or `None` if there is no such file.
pub fn read_at(sandbox: &Path, stream: &str, offset: u64, max_bytes: u64) -> Result<Option<Vec<u8>>, AgentError> {
    match Sandbox::open(sandbox)? {
        Some(sandbox) => sandbox.read_output(stream, offset, max_bytes.min(MAX_CHUNK_BYTES)),
        None => Ok(None),
    }
}

/// Reads the output file `stream` of the sandbox at `sandbox` (`None` when the task's ids make
/// no valid path), waiting up to `wait` for bytes past `offset` while `running()` holds.
pub async fn read_when_ready(
    sandbox: Option<PathBuf>,
    stream: &'static str,
    offset: u64,
    max_bytes: u64,
    wait: Duration,
    running: impl Fn() -> bool,
) -> Chunk {
    let Some(sandbox) = sandbox else {
        return Chunk { data: Vec::new(), found: false, task_ended: !running(), refused: None };
    };
    let deadline = Instant::now() + wait.min(MAX_WAIT);
    loop {
        // Asked before reading: a task that had ended before the read has written all it will,
        // so `task_ended` with no bytes really means the end.
        let task_ended = !running();
        let path = sandbox.clone();
        let read = tokio::task::spawn_blocking(move || read_at(&path, stream, offset, max_bytes)).await;
        let (data, found, refused) = match read {
            Ok(Ok(Some(data))) => (data, true, None),
            Ok(Ok(None)) => (Vec::new(), false, None),
            Ok(Err(e @ AgentError::UnsafeFile(_))) => {
                tracing::warn!(sandbox = %sandbox.display(), error = %e, "refusing to read task output");
                return Chunk { data: Vec::new(), found: true, task_ended, refused: Some(e.to_string()) };
            }
            Ok(Err(e)) => {
                tracing::warn!(sandbox = %sandbox.display(), error = %e, "cannot read task output");
                (Vec::new(), false, None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "task output reader failed");
                (Vec::new(), false, None)
            }
        };
        // A missing file will not appear later: the sandbox is made before the task starts.
        if !data.is_empty() || !found || task_ended || Instant::now() + POLL > deadline {
            return Chunk { data, found, task_ended, refused };
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Answers one `read_log` command for `agent_id`. The master's 404 here only means the reader
/// stopped waiting, so it is not a sign that the master forgot the agent.
pub async fn answer(
    client: Client,
    agent_id: AgentId,
    sandbox: Option<PathBuf>,
    command: ReadLogCommand,
    running: impl Fn() -> bool,
) {
    if !agora_api::ids::is_valid_id(&command.request_id) {
        tracing::warn!("ignoring a read_log command with an invalid request id");
        return;
    }
    let wait = Duration::try_from_secs_f64(command.wait_secs).unwrap_or(Duration::ZERO);
    let stream = command.stream.as_str();
    let chunk = read_when_ready(sandbox, stream, command.offset, command.max_bytes, wait, running).await;
    // A refusal's reason goes as the body, where it needs no escaping.
    let (refused, body) = match chunk.refused {
        Some(reason) => (true, reason.into_bytes()),
        None => (false, chunk.data),
    };
    let info = LogChunkInfo { offset: command.offset, found: chunk.found, task_ended: chunk.task_ended, refused };
    match client.agent_log_chunk(&agent_id, &command.request_id, &info, body).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => tracing::debug!(request_id = %command.request_id, "the log reader left"),
        Err(e) => tracing::warn!(request_id = %command.request_id, error = %e, "cannot send task output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::{FrameworkId, TaskId};
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A new sandbox with `text` as its stdout.
    fn sandbox(text: &str) -> (tempfile::TempDir, PathBuf, std::fs::File) {
        let work = tempfile::tempdir().expect("tempdir");
        let (sandbox, mut output) =
            Sandbox::create(work.path(), &FrameworkId::from("fw"), &TaskId::from("t"), None, &[]).expect("sandbox");
        output.stdout.write_all(text.as_bytes()).expect("writes");
        let path = sandbox.path().to_path_buf();
        (work, path, output.stdout)
    }

    #[test]
    fn reads_a_slice_and_reports_missing_files() {
        let (_work, dir, _) = sandbox("hello world");
        assert_eq!(read_at(&dir, "stdout", 6, 100).expect("reads"), Some(b"world".to_vec()));
        assert_eq!(read_at(&dir, "stdout", 0, 5).expect("reads"), Some(b"hello".to_vec()));
        assert_eq!(read_at(&dir, "stdout", 99, 5).expect("reads"), Some(Vec::new()));
        assert_eq!(read_at(&dir, "nope", 0, 5).expect("reads"), None);
        assert_eq!(read_at(&dir.join("no-sandbox"), "stdout", 0, 5).expect("reads"), None);
    }

    #[tokio::test]
    async fn an_ended_task_is_answered_at_once() {
        let (_work, dir, _) = sandbox("done\n");
        let chunk = read_when_ready(Some(dir), "stdout", 5, 100, Duration::from_secs(60), || false).await;
        assert_eq!(chunk, Chunk { data: Vec::new(), found: true, task_ended: true, refused: None });
        let chunk = read_when_ready(None, "stdout", 0, 100, Duration::from_secs(60), || true).await;
        assert!(!chunk.found);
    }

    #[tokio::test]
    async fn a_planted_fifo_is_refused_at_once_even_while_the_task_runs() {
        let (_work, dir, _) = sandbox("");
        std::fs::remove_file(dir.join("stdout")).expect("removes");
        nix::unistd::mkfifo(&dir.join("stdout"), nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
        let read = read_when_ready(Some(dir), "stdout", 0, 100, Duration::from_secs(60), || true);
        let chunk = tokio::time::timeout(Duration::from_secs(20), read).await.expect("answers at once");
        assert!(chunk.refused.is_some_and(|r| r.contains("FIFO")));
    }

    #[tokio::test]
    async fn a_running_task_is_waited_for() {
        let (_work, dir, mut stdout) = sandbox("a\n");
        let running = Arc::new(AtomicBool::new(true));
        let alive = running.clone();
        let reader = tokio::spawn(read_when_ready(Some(dir), "stdout", 2, 100, Duration::from_secs(20), move || {
            alive.load(Ordering::SeqCst)
        }));
        // Whether the reader looks before or after this write, it must return these bytes.
        stdout.write_all(b"b\n").expect("appends");
        let chunk = tokio::time::timeout(Duration::from_secs(20), reader).await.expect("answers").expect("joins");
        assert_eq!(chunk, Chunk { data: b"b\n".to_vec(), found: true, task_ended: false, refused: None });
        running.store(false, Ordering::SeqCst);
    }
}
