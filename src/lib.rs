//! labgrade: grades a learner's own backend service against lab specs, scores it against
//! each lesson's rubric, and tracks progress toward a certificate.

pub mod app;
pub mod authoring;
pub mod checks;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod grade;
pub mod lint;
pub mod load;
pub mod markdown;
pub mod matching;
pub mod openapi;
pub mod plan;
pub mod procs;
pub mod progress;
pub mod prom;
pub mod readiness;
pub mod report;
pub mod request;
pub mod roster;
pub mod runner;
pub mod score;
pub mod service;
pub mod signing;
pub mod slo;
pub mod spec;
pub mod steps;
pub mod template;
pub mod token;
pub mod upstream;
