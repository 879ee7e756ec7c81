//! The web dashboard of SPEC §15.

pub mod charts;
