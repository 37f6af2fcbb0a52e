//! The Server-Sent Events reader that agents, the CLI and frameworks use, fed arbitrary bytes in
//! arbitrary chunks: it must not panic, must find the same events however the bytes are split,
//! and every event it finds must parse (or be refused) as a framework event and an agent
//! command without panicking.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agora_agent::fuzz_checks::event_stream(data);
});
