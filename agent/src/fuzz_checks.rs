//! The properties the cargo-fuzz targets in `fuzz/` check, kept here so that they build with
//! the crate and their seed inputs run as unit tests on stable Rust. Each function panics when
//! the property does not hold, which is what a fuzzer reports.

use crate::client::{read_events, SseEvent};
use agora_api::agent::AgentCommand;
use agora_api::framework::FrameworkEvent;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed inputs the fuzz targets start from, in `fuzz/seeds/TARGET/`.
    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds").join(target);
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
    fn chunking_does_not_change_the_events() {
        event_stream(b"\x01\x02\x03\x04event: ping\r\ndata: a\ndata: b\n\n: comment\n\nid: 9\n\n");
        event_stream(b"\x07\x00\x05\x02data: cut off mid-character \xe2\x82");
    }
}
