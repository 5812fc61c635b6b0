//! The console: humans read stderr, machines read stdout (cargo's `Shell`). Tests capture both.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// Where output goes and whether a person is there to answer.
pub struct Shell {
    out: Mutex<Box<dyn Write + Send>>,
    err: Mutex<Box<dyn Write + Send>>,
    input: Mutex<Box<dyn BufRead + Send>>,
    /// ANSI colours on stderr (only on a terminal, and not with NO_COLOR).
    pub color: bool,
    /// stdin and stderr are terminals: prompts can be answered and progress drawn.
    pub interactive: bool,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("color", &self.color)
            .field("interactive", &self.interactive)
            .finish()
    }
}

/// What a captured shell printed.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("capture lock")).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().expect("capture lock")).into_owned()
    }
}

struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shell {
    /// The process's stdout, stderr and stdin.
    pub fn stdio() -> Self {
        let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
        let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            out: Mutex::new(Box::new(io::stdout())),
            err: Mutex::new(Box::new(io::stderr())),
            input: Mutex::new(Box::new(io::BufReader::new(io::stdin()))),
            color,
            interactive,
        }
    }

    /// A non-interactive shell whose output is kept, for tests.
    pub fn capture() -> (Self, Captured) {
        Self::capture_with_input("", false)
    }

    /// A captured shell with scripted input; `interactive` pretends a terminal is there.
    pub fn capture_with_input(input: &str, interactive: bool) -> (Self, Captured) {
        let captured = Captured::default();
        let shell = Self {
            out: Mutex::new(Box::new(SharedBuffer(captured.out.clone()))),
            err: Mutex::new(Box::new(SharedBuffer(captured.err.clone()))),
            input: Mutex::new(Box::new(io::Cursor::new(input.as_bytes().to_vec()))),
            color: false,
            interactive,
        };
        (shell, captured)
    }

    /// A line for people (stderr). Output errors are ignored: a closed pipe must not fail a run.
    pub fn status(&self, line: impl AsRef<str>) {
        let mut err = self.err.lock().expect("shell lock");
        let _ = writeln!(err, "{}", line.as_ref());
        let _ = err.flush();
    }

    /// A line for programs (stdout).
    pub fn data(&self, line: impl AsRef<str>) {
        let mut out = self.out.lock().expect("shell lock");
        let _ = writeln!(out, "{}", line.as_ref());
        let _ = out.flush();
    }

    /// One JSON Lines record on stdout: `{"type": kind, ...fields}`.
    pub fn json(&self, kind: &str, fields: serde_json::Value) {
        let mut record = serde_json::Map::new();
        record.insert("type".into(), kind.into());
        match fields {
            serde_json::Value::Object(map) => record.extend(map),
            serde_json::Value::Null => {}
            other => {
                record.insert("value".into(), other);
            }
        }
        self.data(serde_json::Value::Object(record).to_string());
    }

    /// Asks a yes/no question on stderr; only "yes" agrees, as terraform.
    pub fn confirm(&self, question: &str) -> io::Result<bool> {
        {
            let mut err = self.err.lock().expect("shell lock");
            write!(err, "{question} Only 'yes' will be accepted: ")?;
            err.flush()?;
        }
        let mut answer = String::new();
        self.input
            .lock()
            .expect("shell lock")
            .read_line(&mut answer)?;
        Ok(answer.trim() == "yes")
    }

    /// `text` in an ANSI colour when colours are on.
    pub fn paint(&self, color: Color, text: &str) -> String {
        if self.color {
            format!("\x1b[{}m{text}\x1b[0m", color as u8)
        } else {
            text.to_owned()
        }
    }
}

/// ANSI colour codes used in plans.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub enum Color {
    Red = 31,
    Green = 32,
    Yellow = 33,
    Magenta = 35,
    Bold = 1,
    Dim = 2,
}
