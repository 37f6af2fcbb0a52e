//! Task log reads with arbitrary ids, files, offsets and sizes against a sandbox a task has
//! tampered with: no panic, no wait, no byte from outside the sandbox, no more than asked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agora_agent::fuzz_checks::task_log(data);
});
