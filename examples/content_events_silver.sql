-- Silver: the content events a query keeps, once each, with the columns it selects, in
-- streaming SQL. A query without a window appends one row per record, followed by where it came
-- from (kafka_partition, kafka_offset, ingested_at); ROW_NUMBER() = 1 keeps the first record of
-- each event id (per source partition: the copies a producer retries are on one), remembered for
-- an hour of event time.
-- Run: floe run --sql examples/content_events_silver.sql [--brokers HOST:PORT] [--topic NAME]
--      [--config FILE (the checkpoint store and catalog)] [--warehouse URI] [--catalog URI]

CREATE TABLE content_events (
  header ROW<event_id STRING, event_type STRING, event_ts BIGINT>,
  body ROW<video_id STRING, watch_ms BIGINT>,
  ts AS TO_TIMESTAMP_LTZ(header.event_ts, 3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'content_events',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TABLE silver.content_events WITH (
  'connector' = 'iceberg',
  'partitioning' = 'day(event_ts)'
);

SET 'table.exec.state.ttl' = '1h';

INSERT INTO silver.content_events
SELECT
  header.event_id AS event_id,
  header.event_type AS event_type,
  ts AS event_ts,
  body.video_id AS video_id,
  body.watch_ms AS watch_ms,
  CASE WHEN body.watch_ms >= 1000 THEN 'long' ELSE 'short' END AS watch_class
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY header.event_id ORDER BY ts) AS row_num
  FROM content_events
  WHERE header.event_type <> 'impression'
)
WHERE row_num = 1;
