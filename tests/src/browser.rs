//! A real browser in the end-to-end tests: Debian's headless Chromium (installed with apt-get
//! when missing), loading a page, running its scripts for a while, and handing back the DOM,
//! the console's messages and, on request, a screenshot.

use crate::process::output_ok;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What Chromium saw of a page.
pub struct PageVisit {
    /// The DOM after the page's scripts ran.
    pub dom: String,
    /// The console messages Chromium logged (`CONSOLE` lines of its log).
    pub console: Vec<String>,
}

fn chromium() -> PathBuf {
    let installed = Path::new("/usr/bin/chromium");
    if !installed.exists() {
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-q", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "no chromium, and `apt-get install chromium` failed");
    }
    installed.to_path_buf()
}

fn headless(budget_ms: u64) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,1100",
    ])
    .arg(format!("--virtual-time-budget={budget_ms}"));
    cmd
}

/// Loads `url`, lets its scripts run for `budget_ms` of (virtual) time, returns the DOM and the
/// console.
pub fn visit(url: &str, budget_ms: u64) -> PageVisit {
    let out = output_ok(headless(budget_ms).arg("--dump-dom").arg(url), "chromium");
    let log = String::from_utf8_lossy(&out.stderr);
    PageVisit {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console: log
            .lines()
            .filter(|l| l.contains("CONSOLE"))
            .map(str::to_owned)
            .collect(),
    }
}

/// Saves a screenshot of `url` after `budget_ms` to `path`.
pub fn screenshot(url: &str, budget_ms: u64, path: &Path) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot directory");
    }
    let out = headless(budget_ms)
        .arg(format!("--screenshot={}", path.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success() && path.is_file(),
        "chromium took no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of attribute `name` on the page's `<body>` in a dumped DOM.
pub fn body_attribute(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let value = &tag[at..];
    Some(value[..value.find('"')?].to_owned())
}
