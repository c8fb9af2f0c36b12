//! Integration tests: the real `bulkops` binary on real files, one module per topic.

mod apply;
mod bad_input;
mod devices;
mod directory;
mod downloads;
mod examples;
mod fixtures;
mod graph_query;
mod hostile;
mod jobs;
mod plan_output;
mod resume;
mod robustness;
mod schema_file;
mod support;
