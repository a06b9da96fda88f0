//! One-shot commands over whole inputs: `scan`, `classify`, `check`.
//!
//! OWNER: classifier helper.
