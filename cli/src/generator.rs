//! `floe gen`: content events (`floe_source::content_events`) into a Kafka topic, keyed by
//! video id, or into a newline-delimited JSON file (`--to-file`, for `source.type = "files"`);
//! with `--nexmark`, Nexmark's auction events instead, keyed by what its queries group by.

use std::time::{Duration, Instant};

use floe_common::clock::wall_clock_ms;

use anyhow::Context;
use clap::Args;
pub use floe_source::content_events::ContentEvents;
use floe_source::generator::nexmark::NexmarkEvents;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[derive(Args)]
pub struct GenArgs {
    #[arg(long, required_unless_present = "to_file")]
    pub brokers: Option<String>,
    /// Write the events to this file, one JSON object per line, instead of to Kafka.
    #[arg(long, conflicts_with_all = ["brokers", "partitions", "rate"])]
    pub to_file: Option<std::path::PathBuf>,
    #[arg(long, default_value = "content_events")]
    pub topic: String,
    /// Total events to produce.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Distinct video ids.
    #[arg(long, default_value_t = 1_000)]
    pub videos: u32,
    /// Events per second of wall time; 0 produces as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Largest amount an event's timestamp lags its position in the stream.
    #[arg(long, default_value_t = 5_000)]
    pub disorder_ms: i64,
    /// Event time of the first event (epoch ms); default: now.
    #[arg(long)]
    pub start_ms: Option<i64>,
    /// Event time between consecutive events, in microseconds; default: with `--rate`, one
    /// second over the rate, so that event time follows the clock; without, 1 ms.
    #[arg(long)]
    pub step_us: Option<i64>,
    /// Create the topic with this many partitions first (if it does not exist yet).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Nexmark's persons, auctions and bids instead of content events: the events of a
    /// one-partition `datagen` source of the same seed, start and step.
    #[arg(long)]
    pub nexmark: bool,
}

/// The events `floe gen` makes: event `id`'s record key and JSON at `time_ms`.
enum Events {
    Content(ContentEvents),
    Nexmark(NexmarkEvents),
}

impl Events {
    fn of(args: &GenArgs) -> Self {
        if args.nexmark {
            Events::Nexmark(NexmarkEvents::new(args.seed))
        } else {
            Events::Content(ContentEvents::new(args.seed, args.videos, args.disorder_ms))
        }
    }

    fn event_at(&self, id: u64, time_ms: i64) -> (String, String) {
        match self {
            Events::Content(e) => {
                let e = e.event_at(id, time_ms);
                (e.video_id, e.json)
            }
            Events::Nexmark(e) => {
                let e = e.event_at(id, time_ms);
                (e.key.to_string(), e.json)
            }
        }
    }
}

/// Sends one record, waiting for queue space when the producer is full.
pub fn send(producer: &BaseProducer, topic: &str, key: &str, value: &str) -> anyhow::Result<()> {
    loop {
        match producer.send(BaseRecord::to(topic).key(key).payload(value)) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e).context("producing"),
        }
    }
}

pub async fn gen(args: GenArgs) -> anyhow::Result<()> {
    if let Some(path) = args.to_file.clone() {
        return tokio::task::spawn_blocking(move || write_file(&args, &path)).await?;
    }
    if let (Some(n), Some(brokers)) = (args.partitions, &args.brokers) {
        crate::bench::ensure_topic(brokers, &args.topic, n, true).await?;
    }
    tokio::task::spawn_blocking(move || produce(&args)).await?
}

/// The event times of `args`' events, in order.
fn event_times(args: &GenArgs) -> impl Iterator<Item = i64> {
    let start_ms = args.start_ms.unwrap_or_else(wall_clock_ms);
    let step_us = args.step_us.unwrap_or(match args.rate {
        0 => 1_000,
        rate => (1_000_000 / rate).max(1) as i64,
    });
    (0..args.events as i64).map(move |i| start_ms + (i * step_us) / 1000)
}

/// Writes the events to `path`, one JSON object per line.
fn write_file(args: &GenArgs, path: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let events = Events::of(args);
    for (id, t) in event_times(args).enumerate() {
        out.write_all(events.event_at(id as u64, t).1.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {} events to {}", args.events, path.display());
    Ok(())
}

pub fn produce(args: &GenArgs) -> anyhow::Result<()> {
    let brokers = args
        .brokers
        .as_deref()
        .context("--brokers is needed to produce to Kafka")?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .context("creating producer")?;
    let events = Events::of(args);
    let started = Instant::now();
    for (i, now_ms) in event_times(args).enumerate() {
        let (key, json) = events.event_at(i as u64, now_ms);
        send(&producer, &args.topic, &key, &json)?;
        if args.rate > 0 {
            let due = Duration::from_secs_f64(i as f64 / args.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if i % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing")?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {} events to {} in {:.1} s ({:.0}/s)",
        args.events,
        args.topic,
        secs,
        args.events as f64 / secs.max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        gen: GenArgs,
    }

    fn args(flags: &[&str]) -> GenArgs {
        let argv = ["gen", "--brokers", "b", "--start-ms", "0"];
        Cli::parse_from(argv.iter().chain(flags)).gen
    }

    /// At `--rate R`, R events span one second of event time, as they span one of the clock.
    #[test]
    fn event_time_follows_the_clock_at_a_rate() {
        let times: Vec<i64> = event_times(&args(&["--rate", "2000", "--events", "2001"])).collect();
        assert_eq!(times.last(), Some(&1_000));
        let unpaced: Vec<i64> = event_times(&args(&["--events", "1001"])).collect();
        assert_eq!(unpaced.last(), Some(&1_000));
        let stepped: Vec<i64> = event_times(&args(&[
            "--rate",
            "2000",
            "--step-us",
            "1000",
            "--events",
            "2001",
        ]))
        .collect();
        assert_eq!(stepped.last(), Some(&2_000));
    }
}
