//! The registry: the only module that knows metric names. Counters per rule and source, rule
//! info, alert hints (sliding windows), and the daemon's self-monitoring.
//!
//! OWNER: exporter helper.
