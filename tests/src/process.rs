//! Supervision of the processes a test starts: floe runs with their output in log files,
//! signals, waiting, and the log excerpts failure messages show.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::container;

/// A child process whose output goes to a log file.
pub struct FloeProcess {
    pub(crate) child: Child,
    /// The container it runs in, when the job runs floe's image.
    pub(crate) container: Option<String>,
    pub label: String,
    pub log: PathBuf,
    pub(crate) started: Instant,
    pub(crate) status: Option<ExitStatus>,
}

/// Last `max_lines` lines (at most ~16 KiB) of a file.
pub fn tail_file(path: &Path, max_lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(16 * 1024);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = strip_ansi(&String::from_utf8_lossy(&buf));
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(max_lines);
    lines[from..].join("\n")
}

/// Lines of a log with ERROR / WARN / panic (the first `max`), ANSI colours removed.
pub fn problems_in_file(path: &Path, max: usize) -> Vec<String> {
    let text = fs::read(path)
        .map(|b| strip_ansi(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.contains("ERROR")
                || l.contains("WARN")
                || l.contains("panicked")
                || l.contains("failpoint")
        })
        .take(max)
        .map(|l| l.chars().take(600).collect())
        .collect()
}

/// Removes ANSI escape sequences (colours) from log text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

impl FloeProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status, if it has exited.
    pub fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.poll() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!(
                "[{}] kill -{sig} {} failed (already exited?)",
                self.label,
                self.pid()
            );
        }
    }

    /// Sends SIGTERM (graceful stop).
    pub fn terminate(&mut self) {
        if self.poll().is_none() {
            self.signal("TERM");
        }
    }

    /// Sends SIGSTOP: the process stops answering, though its sockets stay open (a hung node).
    pub fn freeze(&mut self) {
        self.signal("STOP");
    }

    /// Sends SIGCONT after [`Self::freeze`].
    pub fn thaw(&mut self) {
        self.signal("CONT");
    }

    /// Sends SIGINT.
    pub fn interrupt(&mut self) {
        if self.poll().is_none() {
            self.signal("INT");
        }
    }

    /// SIGKILL (a crash at an arbitrary moment) and reap.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.poll() {
            return s;
        }
        let _ = self.child.kill();
        let s = self.child.wait().expect("wait after kill");
        if let Some(name) = &self.container {
            // Killing `podman run` leaves its container running: kill that too.
            container::remove(name);
        }
        self.status = Some(s);
        s
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log, lines)
    }

    /// The ids of the checkpoints the log says were committed, in log order.
    pub fn committed_in_log(&self) -> Vec<u64> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(committed_checkpoint).collect()
    }

    /// Waits until a line of the log satisfies `pred`; panics after `timeout` or if the process
    /// exits first.
    pub fn wait_for_log(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            if text.lines().any(|l| pred(&strip_ansi(l))) {
                return;
            }
            if let Some(s) = self.poll() {
                panic!("exited ({s}) before {what}:\n{}", self.describe());
            }
            if Instant::now() >= deadline {
                panic!("no {what} within {timeout:?}:\n{}", self.describe());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many lines of the log `pred` holds for now.
    pub fn count_log_lines(&self, pred: impl Fn(&str) -> bool) -> usize {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|l| pred(&strip_ansi(l))).count()
    }

    /// Label, pid, exit status, log path and the log's tail, for failure messages.
    pub fn describe(&mut self) -> String {
        let status = match self.poll() {
            Some(s) => format!("exited with {s}"),
            None => "still running".into(),
        };
        let problems = problems_in_file(&self.log, 20);
        let problems = if problems.is_empty() {
            String::new()
        } else {
            format!(
                "--- ERROR/WARN lines of the log (first {}) ---\n{}\n",
                problems.len(),
                problems.join("\n")
            )
        };
        format!(
            "{} (pid {}, {:.1}s, {status})\n{problems}--- log {} (tail) ---\n{}\n--- end of log ---",
            self.label,
            self.pid(),
            self.elapsed().as_secs_f64(),
            self.log.display(),
            self.log_tail(40)
        )
    }

    /// Waits for exit 0; on timeout kills it. Panics with the log tail otherwise.
    pub fn expect_success(&mut self, timeout: Duration) {
        match self.wait_for(timeout) {
            Some(s) if s.success() => {}
            Some(_) => panic!("floe failed:\n{}", self.describe()),
            None => {
                self.kill();
                panic!(
                    "floe did not finish within {}s (killed):\n{}",
                    timeout.as_secs(),
                    self.describe()
                )
            }
        }
    }

    /// Waits for a non-zero exit (a failpoint crash); panics with the log tail otherwise.
    pub fn expect_crash(&mut self, timeout: Duration, what: &str) -> ExitStatus {
        match self.wait_for(timeout) {
            Some(s) if !s.success() => s,
            Some(_) => panic!(
                "expected a crash ({what}) but floe exited 0:\n{}",
                self.describe()
            ),
            None => {
                self.kill();
                panic!(
                    "expected a crash ({what}) within {}s, floe was still running (killed):\n{}",
                    timeout.as_secs(),
                    self.describe()
                )
            }
        }
    }
}

/// Runs `cmd` to its end and returns its output; panics naming `what`, with the exit status
/// and stderr, when it cannot start or exits non-zero.
pub fn output_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The id of the checkpoint a log line says was committed.
pub fn committed_checkpoint(line: &str) -> Option<u64> {
    let line = strip_ansi(line);
    if !line.contains("checkpoint committed") {
        return None;
    }
    let (_, rest) = line.split_once(" checkpoint=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl Drop for FloeProcess {
    fn drop(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(name) = &self.container {
            container::remove(name);
        }
    }
}

/// Runs a command with output to `log`; kills it after `timeout`. Returns (success, output).
pub(crate) fn run_logged(mut cmd: Command, log: &Path, timeout: Duration) -> (bool, String) {
    let f = File::create(log).expect("create log");
    let f2 = f.try_clone().expect("clone log handle");
    cmd.stdin(Stdio::null()).stdout(f).stderr(f2);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let ok = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s.success();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut out = fs::read_to_string(log).unwrap_or_default();
            out.push_str(&format!("\n(killed after {}s)", timeout.as_secs()));
            return (false, out);
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    (ok, fs::read_to_string(log).unwrap_or_default())
}

pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
