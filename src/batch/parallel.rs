//! Parallel scan (being written).
