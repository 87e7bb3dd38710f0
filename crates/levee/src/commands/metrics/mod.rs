//! `levee metrics export`: read a Prometheus endpoint and print its samples
//! in a format for systems that don't scrape.

pub mod format;
