-- The seed's gold job of examples/video_stats.toml, in streaming SQL: per-minute video
-- statistics from content events. Both give the same table, row for row.
-- Run: floe run --sql examples/video_stats.sql [--brokers HOST:PORT] [--topic NAME]
--      [--config FILE (the checkpoint store and catalog)] [--warehouse URI] [--catalog URI]

CREATE TABLE content_events (
  header ROW<event_type STRING, event_ts BIGINT>,
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

CREATE TABLE gold.video_stats_1min WITH (
  'connector' = 'iceberg',
  'partitioning' = 'day(window_start)'
);

INSERT INTO gold.video_stats_1min
SELECT
  window_start,
  window_end,
  body.video_id AS video_id,
  COUNT(*) AS events,
  COUNT(*) FILTER (WHERE header.event_type = 'impression') AS impressions,
  COUNT(*) FILTER (WHERE header.event_type = 'like') AS likes,
  COUNT(*) FILTER (WHERE header.event_type = 'share') AS shares,
  COUNT(*) FILTER (WHERE header.event_type = 'completion') AS completions,
  SUM(body.watch_ms) AS watch_ms_sum
FROM TABLE(TUMBLE(TABLE content_events, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, body.video_id;
