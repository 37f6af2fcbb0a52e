//! How the client verbs print: a table for people (`--output table`, the default), a table
//! with more columns (`--output wide`), or the server's JSON (`--output json`, or `--json`).

/// The `--output` and `--json` flags every verb that prints records takes.
#[derive(clap::Args, Clone, Debug)]
pub struct OutputArgs {
    /// How to print: `table` for people, `wide` for a table with more columns, `json` for the
    /// server's JSON.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    output: Format,
    /// The same as `--output json`.
    #[arg(long, conflicts_with = "output")]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Wide,
    Json,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.output
        }
    }

    pub fn is_json(&self) -> bool {
        self.format() == Format::Json
    }

    pub fn is_wide(&self) -> bool {
        self.format() == Format::Wide
    }
}

/// Writes to stdout; a closed stdout (`| head`) is not an error.
pub fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a value as indented JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    write_out(&format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// What `agora --help` says of exit codes.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    done
  1    an error: the server refused (its code and message are printed), could not be
       reached, or the configuration is wrong
  2    bad usage: an unknown flag, a missing argument
  agora run: the task's exit code; 126 or 127 when its command cannot run or is not found,
       130 after Ctrl-C, SIGTERM or SIGHUP, 141 when its output was closed (`| head`)
  agora logs: 141 when its output was closed";
