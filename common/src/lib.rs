//! Floe's pure, synchronous core: job configuration, record decoding, event-time windows,
//! watermarks and the checkpointed state they produce. Nothing here does I/O or reads the
//! environment: the binary reads files and variables and hands their contents in.

pub mod aggregate;
pub mod append;
pub mod approx_distinct;
pub mod bytes_eq;
pub mod cdc;
pub mod checkpoint;
mod checkpoint_legacy;
pub mod clock;
pub mod config;
pub mod decode;
pub mod distinct;
pub mod duration;
pub mod expr;
pub mod failpoint;
pub mod file_source;
pub mod first_seen;
pub mod generator_source;
pub mod group_key;
pub mod having;
pub mod job_shape;
pub mod job_watermark;
pub mod json_scan;
pub mod keyed_accs;
pub mod maintenance;
pub mod partition_runs;
pub mod path;
pub mod records;
pub mod schema;
pub mod session;
pub mod table_target;
pub mod value;
pub mod watermark;
pub mod window;
pub mod window_close;
