//! Source tables of each connector, lowered to the job's source.

use floe_common::generator_source::GeneratedEvents;

use crate::jobs_from_sql;
use crate::tests::validate;

#[test]
fn a_filesystem_source_reads_its_path_and_glob() {
    let text =
        "CREATE TABLE src (header ROW<event_ts BIGINT>, ts AS TO_TIMESTAMP_LTZ(header.event_ts, 0),
                  WATERMARK FOR ts AS ts)
                WITH ('connector' = 'filesystem', 'path' = '/data/events', 'glob' = '**/*.json');
                INSERT INTO a.b SELECT window_start, window_end, COUNT(*) AS n
                FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '10' SECOND))
                GROUP BY window_start, window_end";
    let jobs = jobs_from_sql(text).expect("lowered");
    let files = jobs[0].source.files.as_ref().expect("files");
    assert_eq!(
        (files.location.as_str(), files.glob.as_str()),
        ("/data/events", "**/*.json")
    );
    assert_eq!(jobs[0].event_time.as_ref().expect("time").unit, "s");
    assert_eq!(validate(jobs)[0].name, "b");
}

/// `text`'s source declared `WITH (…)` these options, over a Nexmark-like table.
fn datagen(options: &str) -> String {
    format!(
        "CREATE TABLE bids (bid ROW<auction BIGINT, price BIGINT>, dateTime BIGINT,
                  ts AS TO_TIMESTAMP_LTZ(dateTime, 3), WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
                WITH ('connector' = 'datagen'{options});
                INSERT INTO a.b SELECT bid.auction AS auction FROM bids WHERE MOD(bid.auction, 123) = 0"
    )
}

#[test]
fn a_datagen_source_is_the_built_in_generator() {
    let text = datagen(
        ", 'floe.events' = 'nexmark', 'rows-per-second' = '5000', 'number-of-rows' = '1000',
           'floe.partitions' = '4', 'floe.seed' = '7', 'floe.step' = '2ms'",
    );
    let job = &validate(jobs_from_sql(&text).expect("lowered"))[0];
    let generator = job.source.generator.expect("a generator");
    assert_eq!(generator.kind, GeneratedEvents::Nexmark);
    assert_eq!(
        (
            generator.partitions,
            generator.rate,
            generator.events,
            generator.seed
        ),
        (4, 5000, Some(250), 7)
    );
    assert_eq!(generator.step_us, 2_000);
    let defaults = &validate(jobs_from_sql(&datagen("")).expect("lowered"))[0];
    let generator = defaults.source.generator.expect("a generator");
    assert_eq!(
        (generator.kind, generator.partitions, generator.events),
        (GeneratedEvents::Content, 1, None)
    );
    for (options, says) in [
        (
            ", 'number-of-rows' = '10', 'floe.partitions' = '3'",
            "not a multiple",
        ),
        (
            ", 'rows-per-second' = 'fast'",
            "'rows-per-second' = 'fast' is not a whole number",
        ),
        (", 'floe.color' = 'red'", "the option 'floe.color'"),
    ] {
        let e = jobs_from_sql(&datagen(options))
            .expect_err(options)
            .to_string();
        assert!(e.contains(says), "{options}: {e}");
    }
}
