//! `run_job` against librdkafka's in-process mock cluster (a topic that grows while the job
//! runs, a Kafka error that cannot heal, two workers sharing windows) and against the built-in
//! generator source. (The mock cluster cannot add partitions to a topic,
//! so the growth is told to the job by a scripted `PartitionSource` over a topic that has had
//! all its partitions from the start.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use floe_common::config::{FloeConfig, JobSpec, ValidatedConfig};
use floe_coordinator::job::{run_job, JobError, JobOptions, JobProgress, JobSummary};
use floe_source::{PartitionSource, SourceError};
use floe_storage::{open_location, CheckpointStore};
use floe_table::catalog::{connect_catalog, CatalogConfig};
use floe_worker::{in_process_workers, WorkerOptions};
use futures::TryStreamExt;
use iceberg::{Catalog, TableIdent};
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio::sync::watch;

const TOPIC: &str = "content_events";
/// 2026-01-01T00:00:00Z, a window start.
const T0: i64 = 1_767_225_600_000;

struct Setup {
    _dir: tempfile::TempDir,
    cfg: ValidatedConfig,
    job: Arc<JobSpec>,
    catalog: Arc<dyn Catalog>,
    store: CheckpointStore,
}

async fn setup(brokers: &str) -> Setup {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let mut file =
        FloeConfig::parse(include_str!("../../examples/video_stats.toml")).expect("parse");
    file.jobs[0].source.brokers = brokers.to_owned();
    file.jobs[0].source.topic = TOPIC.to_owned();
    file.checkpoint.interval = "200ms".into();
    let cfg = file.validate().expect("validate");
    let job = Arc::new(cfg.jobs[0].clone());
    let catalog = connect_catalog(&CatalogConfig::new(
        format!("sqlite://{}/catalog.db", dir.path().display()),
        format!("file://{}/warehouse", dir.path().display()),
    ))
    .await
    .expect("catalog");
    let checkpoints = dir.path().join("checkpoints");
    let store = CheckpointStore::new(
        open_location(checkpoints.to_str().expect("utf-8")).expect("store"),
        &job.name,
    );
    Setup {
        _dir: dir,
        cfg,
        job,
        catalog,
        store,
    }
}

fn produce(producer: &BaseProducer, partition: i32, ts: i64, video: &str) {
    let value = format!(
        r#"{{"header":{{"event_type":"like","event_ts":{ts}}},"body":{{"video_id":"{video}","watch_ms":1}}}}"#
    );
    producer
        .send(
            BaseRecord::to(TOPIC)
                .partition(partition)
                .key(video)
                .payload(&value),
        )
        .expect("enqueue");
}

/// Partitions 0 and 1 until `grown` is set, then 0 to 3.
#[derive(Debug)]
struct GrowingTopic {
    grown: Arc<AtomicBool>,
}

impl PartitionSource for GrowingTopic {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        Ok(if self.grown.load(Ordering::SeqCst) {
            vec![0, 1, 2, 3]
        } else {
            vec![0, 1]
        })
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        Ok(BTreeMap::new())
    }
}

async fn wait_until(
    progress: &mut watch::Receiver<JobProgress>,
    what: &str,
    done: impl Fn(&JobProgress) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done(&progress.borrow()) {
            progress.changed().await.expect("job still running");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within 30 s: {:?}", *progress.borrow()));
}

/// (window_start µs, video_id, events) of every gold row.
async fn gold_rows(catalog: &Arc<dyn Catalog>) -> Vec<(i64, String, i64)> {
    let table = catalog
        .load_table(&TableIdent::from_strs(["gold", "video_stats_1min"]).expect("ident"))
        .await
        .expect("load");
    let batches: Vec<RecordBatch> = table
        .scan()
        .build()
        .expect("scan")
        .to_arrow()
        .await
        .expect("arrow")
        .try_collect()
        .await
        .expect("read");
    let mut rows = Vec::new();
    for b in batches {
        let starts = arrow_cast::cast(
            b.column_by_name("window_start").expect("window_start"),
            &arrow_schema::DataType::Int64,
        )
        .expect("cast");
        let starts = starts.as_primitive::<Int64Type>();
        let videos = b
            .column_by_name("video_id")
            .expect("video_id")
            .as_string::<i32>();
        let events = b
            .column_by_name("events")
            .expect("events")
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            rows.push((starts.value(i), videos.value(i).to_owned(), events.value(i)));
        }
    }
    rows.sort();
    rows
}

/// A mock cluster with one `partitions`-partition topic, and a producer to it.
fn mock_topic(partitions: i32) -> (MockCluster<'static, DefaultProducerContext>, BaseProducer) {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, partitions, 1).expect("topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    (cluster, producer)
}

/// A job running in a task, and its controls.
struct Running {
    task: tokio::task::JoinHandle<Result<JobSummary, JobError>>,
    stop: tokio_util::sync::CancellationToken,
    progress: watch::Receiver<JobProgress>,
}

/// Starts `s.job` on `workers` in-process workers, told its partitions by `source` when given.
fn spawn_job(
    s: &Setup,
    source: Option<Arc<dyn PartitionSource>>,
    bounded: bool,
    workers: usize,
) -> Running {
    let stop = tokio_util::sync::CancellationToken::new();
    let stop_rx = stop.clone();
    let (progress_tx, progress) = watch::channel(JobProgress::default());
    let options = JobOptions {
        partition_source: source,
        bounded,
        ..JobOptions::new(&s.cfg)
    };
    let members = in_process_workers(workers, s.store.clone(), WorkerOptions::default());
    let task = tokio::spawn(run_job(
        s.job.clone(),
        s.catalog.clone(),
        s.store.clone(),
        options,
        members,
        stop_rx,
        progress_tx,
    ));
    Running {
        task,
        stop,
        progress,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_a_topic_gains_are_read_from_their_start_into_the_right_windows() {
    let (cluster, producer) = mock_topic(4);
    let s = setup(&cluster.bootstrap_servers()).await;
    // Window [T0, T0+1m) on every partition; the new ones have their records from the start.
    for p in 0..4 {
        for i in 0..5 {
            produce(&producer, p, T0 + 1_000 * i, &format!("v{p}"));
        }
    }
    producer.flush(Duration::from_secs(10)).expect("flush");

    let grown = Arc::new(AtomicBool::new(false));
    let source = Arc::new(GrowingTopic {
        grown: grown.clone(),
    });
    let Running {
        task: job,
        stop: stop_tx,
        mut progress,
    } = spawn_job(&s, Some(source), false, 1);
    wait_until(&mut progress, "partitions 0 and 1 read", |p| p.events == 10).await;
    grown.store(true, Ordering::SeqCst);
    wait_until(&mut progress, "partitions 2 and 3 read", |p| p.events == 20).await;
    // Close the window on every partition.
    for p in 0..4 {
        produce(&producer, p, T0 + 2 * 60_000, "closer");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    wait_until(&mut progress, "the window committed", |p| {
        p.rows_committed >= 4
    })
    .await;
    stop_tx.cancel();
    let summary = job.await.expect("join").expect("job");
    assert_eq!(
        summary.progress.late_rejected, 0,
        "no event of a new partition is late"
    );

    let first_window: Vec<(String, i64)> = gold_rows(&s.catalog)
        .await
        .into_iter()
        .filter(|(start, _, _)| *start == T0 * 1000)
        .map(|(_, v, n)| (v, n))
        .collect();
    assert_eq!(
        first_window,
        [
            ("v0".into(), 5),
            ("v1".into(), 5),
            ("v2".into(), 5),
            ("v3".into(), 5)
        ]
    );
}

/// A topic that grew while the job was down: on restart, the partitions its checkpoint does
/// not know are new to the job and read from their start, even for `start = "latest"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_gained_while_the_job_was_down_are_read_from_their_start() {
    let (cluster, producer) = mock_topic(4);
    let mut s = setup(&cluster.bootstrap_servers()).await;
    let mut job = (*s.job).clone();
    job.source.start = floe_common::config::StartPosition::Latest;
    s.job = Arc::new(job);
    let grown = Arc::new(AtomicBool::new(false));
    let source: Arc<dyn PartitionSource> = Arc::new(GrowingTopic {
        grown: grown.clone(),
    });
    let mut first = spawn_job(&s, Some(source.clone()), false, 1);
    wait_until(&mut first.progress, "a first checkpoint", |p| {
        p.checkpoints_committed > 0
    })
    .await;
    first.stop.cancel();
    first.task.await.expect("join").expect("first run");

    // While the job is down: the topic grows, its new partitions get records.
    for p in 2..4 {
        for i in 0..5 {
            produce(&producer, p, T0 + 1_000 * i, &format!("v{p}"));
        }
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    grown.store(true, Ordering::SeqCst);
    let second = spawn_job(&s, Some(source), true, 1);
    let summary = second.task.await.expect("join").expect("bounded run");
    assert_eq!(
        summary.progress.events, 10,
        "every record of the new partitions is read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_error_that_cannot_heal_fails_the_job() {
    let (cluster, _producer) = mock_topic(2);
    let s = setup(&cluster.bootstrap_servers()).await;
    let Running {
        task: job,
        stop: _stop,
        mut progress,
    } = spawn_job(&s, None, false, 1);
    wait_until(&mut progress, "a first checkpoint", |p| {
        p.checkpoints_committed > 0
    })
    .await;
    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 50],
    );
    let result = tokio::time::timeout(Duration::from_secs(30), job)
        .await
        .expect("the job stops instead of logging the error forever")
        .expect("join");
    let err = result.expect_err("the job fails");
    assert!(
        err.to_string().to_lowercase().contains("authoriz"),
        "the error says why: {err}"
    );
}

/// The same (window, key) read by two workers (its events spread over partitions both hold)
/// becomes one row: the job's watermark closes the window on both at the same checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_make_one_row_per_window_and_key() {
    let (cluster, producer) = mock_topic(4);
    let s = setup(&cluster.bootstrap_servers()).await;
    for i in 0..40 {
        produce(&producer, i % 4, T0 + 1_000 * i64::from(i), "shared");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    let summary = spawn_job(&s, None, true, 2)
        .task
        .await
        .expect("join")
        .expect("bounded run on two workers");
    assert_eq!(summary.progress.events, 40);
    let rows: Vec<(String, i64)> = gold_rows(&s.catalog)
        .await
        .into_iter()
        .map(|(_, v, n)| (v, n))
        .collect();
    assert_eq!(rows, [("shared".into(), 40)]);
}

/// The generator source: a bounded job over 3 generated partitions, interrupted once (so the
/// second run restores generated partitions from a checkpoint on two workers), gives exactly
/// the counts computed from the generated events themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_job_counts_exactly_what_was_generated_across_a_restart() {
    use floe_common::generator_source::GeneratorConfig;
    use floe_source::content_events::ContentEvents;
    use std::collections::BTreeMap;

    let mut s = setup("unused:9092").await;
    let job = floe_common::config::example_generator_job(GeneratorConfig {
        partitions: 3,
        events: 30_000,
        videos: 20,
        ..GeneratorConfig::default()
    });
    let spec = job.source.generator.expect("generator");
    s.job = Arc::new(job);

    let first = spawn_job(&s, None, false, 1);
    let mut progress = first.progress.clone();
    wait_until(&mut progress, "a checkpoint with events", |p| {
        p.checkpoints_committed > 0 && p.events > 0
    })
    .await;
    first.stop.cancel();
    first.task.await.expect("join").expect("first run");
    let summary = spawn_job(&s, None, true, 2)
        .task
        .await
        .expect("join")
        .expect("bounded run on two workers");
    assert_eq!(summary.progress.events, 90_000, "{:?}", summary.progress);

    let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for p in 0..spec.partitions {
        let events = ContentEvents::new(spec.partition_seed(p), spec.videos, spec.disorder_ms);
        for offset in 0..30_000i64 {
            let e = events.event_at(offset as u64, spec.time_at(offset));
            let start = e.event_ts.div_euclid(60_000) * 60_000;
            *expected.entry((start * 1000, e.video_id)).or_default() += 1;
        }
    }
    let expected: Vec<(i64, String, i64)> = expected
        .into_iter()
        .map(|((start, video), n)| (start, video, n))
        .collect();
    assert_eq!(gold_rows(&s.catalog).await, expected);
}
