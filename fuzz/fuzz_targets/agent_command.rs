//! Agent commands as the command stream carries them (an event name and JSON data): parsing
//! must not panic, and whatever parses must encode and parse back to the same command.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agora_agent::fuzz_checks::agent_command(data);
});
