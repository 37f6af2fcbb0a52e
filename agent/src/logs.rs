//! Answers `read_log` commands: a slice of a task's `stdout` or `stderr` from its sandbox,
//! posted back to the master, which relays it to the reader. When nothing is new and the task
//! still runs, the answer waits a while for more output, so readers can follow a task.

use crate::client::Client;
use agora_api::agent::ReadLogCommand;
use agora_api::AgentId;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
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
}

/// Reads up to `max_bytes` at `offset` from `file`, or `None` if it does not exist.
pub fn read_at(file: &Path, offset: u64, max_bytes: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::new();
    f.take(max_bytes.min(MAX_CHUNK_BYTES)).read_to_end(&mut data)?;
    Ok(Some(data))
}

/// Reads from `file` (`None` when the task's ids make no valid path), waiting up to `wait`
/// for bytes past `offset` while `running()` holds.
pub async fn read_when_ready(
    file: Option<PathBuf>,
    offset: u64,
    max_bytes: u64,
    wait: Duration,
    running: impl Fn() -> bool,
) -> Chunk {
    let Some(file) = file else {
        return Chunk { data: Vec::new(), found: false, task_ended: !running() };
    };
    let deadline = Instant::now() + wait.min(MAX_WAIT);
    loop {
        // Asked before reading: a task that had ended before the read has written all it will,
        // so `task_ended` with no bytes really means the end.
        let task_ended = !running();
        let path = file.clone();
        let read = tokio::task::spawn_blocking(move || read_at(&path, offset, max_bytes)).await;
        let (data, found) = match read {
            Ok(Ok(Some(data))) => (data, true),
            Ok(Ok(None)) => (Vec::new(), false),
            Ok(Err(e)) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot read task output");
                (Vec::new(), false)
            }
            Err(e) => {
                tracing::warn!(error = %e, "task output reader failed");
                (Vec::new(), false)
            }
        };
        // A missing file will not appear later: the sandbox is made before the task starts.
        if !data.is_empty() || !found || task_ended || Instant::now() + POLL > deadline {
            return Chunk { data, found, task_ended };
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Answers one `read_log` command for `agent_id`. The master's 404 here only means the reader
/// stopped waiting, so it is not a sign that the master forgot the agent.
pub async fn answer(
    client: Client,
    agent_id: AgentId,
    file: Option<PathBuf>,
    command: ReadLogCommand,
    running: impl Fn() -> bool,
) {
    if !agora_api::ids::is_valid_id(&command.request_id) {
        tracing::warn!("ignoring a read_log command with an invalid request id");
        return;
    }
    let wait = Duration::try_from_secs_f64(command.wait_secs).unwrap_or(Duration::ZERO);
    let chunk = read_when_ready(file, command.offset, command.max_bytes, wait, running).await;
    let path = format!(
        "/v1/agents/{agent_id}/logs/{}?offset={}&found={}&task_ended={}",
        command.request_id, command.offset, chunk.found, chunk.task_ended
    );
    match client.post_bytes(&path, chunk.data).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => tracing::debug!(request_id = %command.request_id, "the log reader left"),
        Err(e) => tracing::warn!(request_id = %command.request_id, error = %e, "cannot send task output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn reads_a_slice_and_reports_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("stdout");
        std::fs::write(&file, "hello world").expect("writes");
        assert_eq!(read_at(&file, 6, 100).expect("reads"), Some(b"world".to_vec()));
        assert_eq!(read_at(&file, 0, 5).expect("reads"), Some(b"hello".to_vec()));
        assert_eq!(read_at(&file, 99, 5).expect("reads"), Some(Vec::new()));
        assert_eq!(read_at(&dir.path().join("nope"), 0, 5).expect("reads"), None);
    }

    #[tokio::test]
    async fn an_ended_task_is_answered_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("stdout");
        std::fs::write(&file, "done\n").expect("writes");
        let chunk = read_when_ready(Some(file), 5, 100, Duration::from_secs(60), || false).await;
        assert_eq!(chunk, Chunk { data: Vec::new(), found: true, task_ended: true });
        let chunk = read_when_ready(None, 0, 100, Duration::from_secs(60), || true).await;
        assert!(!chunk.found);
    }

    #[tokio::test]
    async fn a_running_task_is_waited_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("stdout");
        std::fs::write(&file, "a\n").expect("writes");
        let running = Arc::new(AtomicBool::new(true));
        let alive = running.clone();
        let reader = tokio::spawn(read_when_ready(Some(file.clone()), 2, 100, Duration::from_secs(20), move || {
            alive.load(Ordering::SeqCst)
        }));
        // Whether the reader looks before or after this write, it must return these bytes.
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).expect("opens");
        f.write_all(b"b\n").expect("appends");
        let chunk = tokio::time::timeout(Duration::from_secs(20), reader).await.expect("answers").expect("joins");
        assert_eq!(chunk, Chunk { data: b"b\n".to_vec(), found: true, task_ended: false });
        running.store(false, Ordering::SeqCst);
    }
}
