//! `config.toml`: the daemon's configuration, parsed strictly and validated in full.
