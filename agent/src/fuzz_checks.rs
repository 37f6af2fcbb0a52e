//! The properties the cargo-fuzz targets in `fuzz/` check, kept here so that they build with
//! the crate and their seed inputs run as unit tests on stable Rust. Each function panics when
//! the property does not hold, which is what a fuzzer reports.

use agora_api::agent::AgentCommand;
use agora_api::framework::FrameworkEvent;
use agora_client::{read_events, SseEvent};
use futures::StreamExt as _;

/// Reads `data` as an event stream, whole and in chunks whose sizes the first bytes pick:
/// both readings must find the same events, and every event must parse or be refused as a
/// framework event and as an agent command without panicking.
pub fn event_stream(data: &[u8]) {
    let (sizes, body) = data.split_at(data.len().min(4));
    let whole = read_all(vec![body.to_vec()]);
    let mut chunks = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.iter().map(|size| usize::from(size % 16 + 1)).cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(chunk.to_vec());
        rest = tail;
    }
    let chunked = read_all(chunks);
    // A body cut off mid-character may fail at different points; what was read before agrees.
    let agreed = whole.0.len().min(chunked.0.len());
    assert_eq!(whole.0[..agreed], chunked.0[..agreed], "chunking changed the events");
    if whole.1.is_none() && chunked.1.is_none() {
        assert_eq!(whole.0, chunked.0, "chunking changed the events");
    }
    for event in &whole.0 {
        let _ = FrameworkEvent::parse(&event.event, &event.data);
        let _ = AgentCommand::parse(&event.event, &event.data);
    }
}

/// The events read from a body in `chunks`, and the error that ended the reading, if any.
fn read_all(chunks: Vec<Vec<u8>>) -> (Vec<SseEvent>, Option<String>) {
    let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    futures::executor::block_on(async {
        let mut events = Vec::new();
        let mut stream = std::pin::pin!(read_events(body));
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => events.push(event),
                Err(e) => return (events, Some(e.to_string())),
            }
        }
        (events, None)
    })
}

/// The event names agents know, picked by the first byte of the input.
const COMMANDS: [&str; 8] =
    ["launch", "kill", "acknowledge", "read_log", "shutdown", "ping", "unknown", "destroy_volume"];

/// Parses the rest of `data` as the JSON of the command the first byte picks: it must not
/// panic, and a command that parses must encode and parse back to itself.
pub fn agent_command(data: &[u8]) {
    let Some((pick, json)) = data.split_first() else { return };
    let Ok(json) = std::str::from_utf8(json) else { return };
    let name = COMMANDS[usize::from(*pick) % COMMANDS.len()];
    if let Ok(Some(command)) = AgentCommand::parse(name, json) {
        let again = AgentCommand::parse(command.name(), &command.data())
            .expect("an encoded command parses")
            .expect("an encoded command is known");
        assert_eq!(again, command, "a command changed on its way through the stream");
    }
}

/// The sandbox [`task_log`] reads: `stdout` holds [`LOG_TEXT`], `stderr` is a link to a file
/// outside the sandbox holding [`SECRET`], and `.agora-exit` is a FIFO.
struct LogFixture {
    work_dir: std::path::PathBuf,
    sandbox: std::path::PathBuf,
}

const LOG_TEXT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-SANDBOX";
/// What [`task_log`] may ask for as the file: the streams, and names that lead elsewhere.
const LOG_FILES: [&str; 7] = ["stdout", "stderr", ".agora-exit", "..", "../t/stdout", "/etc/passwd", ""];

/// The fixture's directory in the temporary directory is this, then the process id.
const FIXTURE_PREFIX: &str = "agora-fuzz-task-log-";

/// The fixture lives as long as its process (a static is never dropped), so each new one
/// removes those of processes that have ended.
fn remove_fixtures_of_ended_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(FIXTURE_PREFIX)).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            // Does not follow a link: at worst a link of that name is removed.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn log_fixture() -> &'static LogFixture {
    static FIXTURE: std::sync::OnceLock<LogFixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        use std::io::Write as _;
        remove_fixtures_of_ended_processes();
        let work_dir = std::env::temp_dir().join(format!("{FIXTURE_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work_dir);
        std::fs::create_dir_all(&work_dir).expect("a work directory");
        let (fw, task) = (agora_api::FrameworkId::from("fw"), agora_api::TaskId::from("t"));
        let (sandbox, mut output) =
            crate::sandbox::Sandbox::create(&work_dir, &fw, &task, None, &[]).expect("a sandbox");
        output.stdout.write_all(LOG_TEXT).expect("writes stdout");
        let secret = work_dir.join("secret");
        std::fs::write(&secret, SECRET).expect("writes the secret");
        let sandbox = sandbox.path().to_path_buf();
        std::fs::remove_file(sandbox.join("stderr")).expect("removes stderr");
        std::os::unix::fs::symlink(&secret, sandbox.join("stderr")).expect("links stderr");
        nix::unistd::mkfifo(&sandbox.join(".agora-exit"), nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("makes a FIFO");
        LogFixture { work_dir, sandbox }
    })
}

/// A task log read as the agent makes one for a `read_log` command, with the framework id,
/// task id, file, offset and size the bytes pick (8 bytes of offset, 4 of size and 1 of file,
/// then `framework_id NUL task_id`), against a sandbox whose `stderr` is a link to a file
/// outside it and whose exit file is a FIFO. It must not panic or block, must never return
/// bytes from outside the sandbox nor more than asked, and a read of `stdout` must return
/// exactly that slice of the file.
pub fn task_log(data: &[u8]) {
    let fixture = log_fixture();
    let (head, ids) = data.split_at(data.len().min(13));
    let mut head = head.to_vec();
    head.resize(13, 0);
    let offset = u64::from_le_bytes(head[0..8].try_into().unwrap_or_default());
    let max_bytes = u64::from(u32::from_le_bytes(head[8..12].try_into().unwrap_or_default()));
    let file = LOG_FILES[usize::from(head[12]) % LOG_FILES.len()];
    let ids = String::from_utf8_lossy(ids);
    let (framework_id, task_id) = ids.split_once('\0').unwrap_or(("fw", &ids));
    let Ok(sandbox) = crate::tasks::sandbox_dir(&fixture.work_dir, &framework_id.into(), &task_id.into()) else {
        return;
    };
    let Ok(Some(bytes)) = crate::logs::read_at(&sandbox, file, offset, max_bytes) else { return };
    assert!(bytes.len() as u64 <= max_bytes.min(crate::logs::MAX_CHUNK_BYTES), "more bytes than asked");
    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET), "bytes from outside the sandbox");
    assert!(sandbox == fixture.sandbox && file == "stdout", "read {file} of {}", sandbox.display());
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(LOG_TEXT.len());
    let end = start.saturating_add(usize::try_from(max_bytes).unwrap_or(usize::MAX)).min(LOG_TEXT.len());
    assert_eq!(bytes, &LOG_TEXT[start..end], "not the slice asked for");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed inputs the fuzz targets start from, in `fuzz/seeds/TARGET/`.
    fn seeds(target: &str) -> Vec<Vec<u8>> {
        // This run's manifest directory: a test binary cached from another clone keeps that
        // clone's path at compile time.
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let dir = std::path::Path::new(&manifest).join("../fuzz/seeds").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading the seeds in {}: {e}", dir.display()))
            .flatten()
            .collect();
        files.sort_by_key(|entry| entry.file_name());
        files.iter().map(|entry| std::fs::read(entry.path()).expect("a seed")).collect()
    }

    #[test]
    fn the_fuzz_seeds_hold_the_properties() {
        let streams = seeds("event_stream");
        assert!(streams.len() >= 2);
        for seed in &streams {
            event_stream(seed);
        }
        let commands = seeds("agent_command");
        for seed in &commands {
            agent_command(seed);
        }
        // The seeds are worth starting from: real commands, not just bytes that fail to parse.
        let parsed = commands
            .iter()
            .filter_map(|seed| seed.split_first())
            .filter(|(pick, json)| {
                let name = COMMANDS[usize::from(**pick) % COMMANDS.len()];
                matches!(AgentCommand::parse(name, std::str::from_utf8(json).unwrap_or("")), Ok(Some(_)))
            })
            .count();
        assert_eq!(parsed, commands.len(), "every agent command seed parses");
    }

    #[test]
    fn log_reads_stay_in_the_sandbox_and_return_the_slice_asked_for() {
        let reads = seeds("task_log");
        assert!(reads.len() >= 4);
        for seed in &reads {
            task_log(seed);
        }
        // Every file name, at a few offsets and sizes, with the fixture's ids and with others.
        for pick in 0..LOG_FILES.len() as u8 {
            for (offset, max) in [(0u64, 5u32), (3, 100), (1 << 40, 1), (u64::MAX, u32::MAX)] {
                for ids in [&b"fw\0t"[..], b"fw\0..", b"..\0t", b"fw\0t/../t", b""] {
                    let mut input = offset.to_le_bytes().to_vec();
                    input.extend(max.to_le_bytes());
                    input.push(pick);
                    input.extend(ids);
                    task_log(&input);
                }
            }
        }
    }

    #[test]
    fn chunking_does_not_change_the_events() {
        event_stream(b"\x01\x02\x03\x04event: ping\r\ndata: a\ndata: b\n\n: comment\n\nid: 9\n\n");
        event_stream(b"\x07\x00\x05\x02data: cut off mid-character \xe2\x82");
    }
}
