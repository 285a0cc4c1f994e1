-- Nexmark's q14 ("calculation") over the built-in generator: each bid's price in euros, the
-- time of day it was placed, for the bids of a price band; no broker needed.
-- Run: floe run --sql examples/nexmark_bids.sql --until-end
--      [--config FILE (the checkpoint store and catalog)] [--warehouse URI] [--catalog URI]

CREATE TABLE nexmark (
  event_type INT,
  bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
          dateTime BIGINT, extra STRING>,
  dateTime BIGINT,
  ts AS TO_TIMESTAMP_LTZ(dateTime, 3),
  WATERMARK FOR ts AS ts - INTERVAL '4' SECOND
) WITH (
  'connector' = 'datagen',
  'floe.events' = 'nexmark',
  'number-of-rows' = '100000',
  'floe.seed' = '42',
  'floe.step' = '1s'
);

INSERT INTO nexmark.bids
SELECT
  bid.auction AS auction,
  bid.bidder AS bidder,
  0.908 * bid.price AS price_eur,
  CASE
    WHEN HOUR(ts) >= 8 AND HOUR(ts) <= 18 THEN 'dayTime'
    WHEN HOUR(ts) <= 6 OR HOUR(ts) >= 20 THEN 'nightTime'
    ELSE 'otherTime'
  END AS bid_time_type,
  ts AS date_time,
  bid.extra AS extra
FROM nexmark
WHERE event_type = 2 AND 0.908 * bid.price > 1000000 AND 0.908 * bid.price < 50000000;
