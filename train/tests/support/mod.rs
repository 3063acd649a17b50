//! Shared by the trainer's integration tests that need the venv (`make setup` creates it).

include!("../../../tests/support/venv.rs");
