//! The demo's one-screen progress view.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use floe_coordinator::job::JobProgress;

/// Redraws a small status screen from successive [`JobProgress`] values.
pub struct ProgressView {
    started: Instant,
    last: Option<(Instant, u64)>,
    rate: f64,
    tty: bool,
}

fn fmt_ms(ms: i64) -> String {
    if ms == i64::MIN {
        return "-".into();
    }
    if ms == i64::MAX {
        return "end of input".into();
    }
    let secs = ms.div_euclid(1000);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02} UTC")
}

impl ProgressView {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            last: None,
            rate: 0.0,
            tty: std::io::stdout().is_terminal(),
        }
    }

    pub fn draw(&mut self, title: &str, p: &JobProgress) {
        let now = Instant::now();
        if let Some((t, events)) = self.last {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.2 {
                self.rate = (p.events.saturating_sub(events)) as f64 / dt;
                self.last = Some((now, p.events));
            }
        } else {
            self.last = Some((now, p.events));
        }
        let lines = [
            format!(
                "{title}   (running {:.0} s, Ctrl-C to stop)",
                self.started.elapsed().as_secs_f64()
            ),
            String::new(),
            format!(
                "  events            {:>14}   {:>10.0} events/s",
                p.events, self.rate
            ),
            format!("  watermark         {:>14}", fmt_ms(p.watermark_ms)),
            format!(
                "  open windows      {:>14}   ({} window×key entries)",
                p.open_windows, p.open_entries
            ),
            format!(
                "  checkpoints       {:>14}   (last id {})",
                p.checkpoints_committed, p.last_checkpoint_id
            ),
            format!("  rows committed    {:>14}", p.rows_committed),
            format!(
                "  late (kept)       {:>14}   late (to late table) {}",
                p.late_accepted, p.late_rejected
            ),
            format!("  dead letters      {:>14}", p.dead_letters),
        ];
        let mut out = std::io::stdout().lock();
        if self.tty {
            let _ = writeln!(out, "\x1b[2J\x1b[H{}", lines.join("\n"));
        } else {
            let _ = writeln!(
                out,
                "events={} rate={:.0}/s watermark={} checkpoints={} rows={}",
                p.events,
                self.rate,
                fmt_ms(p.watermark_ms),
                p.checkpoints_committed,
                p.rows_committed
            );
        }
        let _ = out.flush();
    }
}
