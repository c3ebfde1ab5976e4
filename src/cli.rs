//! Command-line interface.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "labgrade",
    version,
    about = "Grades your backend service against the labs of a course, scores it, and tracks your certificate progress."
)]
pub struct Cli {
    /// Read lab specs from this folder instead of the ones built in (for lab authors).
    #[arg(long, global = true, value_name = "DIR", env = "LABGRADE_LABS")]
    pub labs: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Grade one lab: start your service, run the lab's checks, score them.
    Check(CheckArgs),
    /// Grade a lab again whenever a file of your repo changes, and say what changed since the
    /// last run (fixed, still failing, newly failing). Ctrl-C stops it and everything it started.
    Watch(WatchArgs),
    /// Check your setup before grading: labgrade.toml, the start command and its runtime, the
    /// port, the database, the files the labs read, and that the service starts and becomes
    /// ready. Each problem comes with its fix (exit 0 only when everything is fine).
    Doctor(DoctorArgs),
    /// Grade every lab of the track in one run: each lab's report, the track score and the
    /// certificate state (exit 0 only when the certificate is eligible).
    Grade(RunArgs),
    /// Your progress on the track, from the labs graded so far (.labgrade/ in your repo):
    /// lessons done, next up, each lab's best score, the certificate state (exit 0 only when
    /// eligible).
    Status {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the labs of the track.
    Labs,
    /// Show a lab's README (what to build and how it is graded); for authors: lint, schema, new.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Lab {
        /// Lab number or id (2, 02, 02-http-contracts).
        #[arg(required = true)]
        lab: Option<String>,
        /// Print the learner-facing README (the default).
        #[arg(long)]
        readme: bool,
        #[command(subcommand)]
        author: Option<crate::authoring::LabCommand>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    Man,
    /// Write a commented labgrade.toml into the current folder (or PATH).
    Init {
        path: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Send a bounded closed-loop load to one URL (what the slo check does) and print its
    /// throughput and latency percentiles.
    Load(LoadArgs),
    /// Tell whether a JSON report is genuine: signed with LABGRADE_SIGNING_KEY and unmodified
    /// since (exit 0), or not (exit 1).
    VerifyReport {
        /// The JSON report (one lab, or the array of several).
        file: PathBuf,
    },
    /// A class gradebook from many learners' JSON reports: per learner, each lab's best
    /// score, the track score and the certificate state; reports that do not verify against
    /// LABGRADE_SIGNING_KEY are flagged and not counted.
    Roster {
        /// Folders (searched recursively for *.json) or report files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the gradebook as CSV here.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Write the gradebook as a Markdown table here (default: print it).
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
    },
    /// Print a bearer token signed with your JWT_SECRET, for reproducing a check with curl.
    Token {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, default_value = "owner")]
        role: String,
        #[arg(long, default_value = "tenant-a")]
        tenant: String,
        /// Seconds until it expires (negative: already expired).
        #[arg(long, default_value_t = 3600, allow_hyphen_values = true)]
        expires_in: i64,
        /// Mint a token a service must refuse (to reproduce a failed token-attack check).
        #[arg(long, value_enum)]
        attack: Option<crate::token::Attack>,
    },
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The URL every request goes to (GET).
    pub url: url::Url,
    /// Connections, each sending its next request when the last one answered.
    #[arg(short = 'c', long, default_value_t = 8)]
    pub connections: usize,
    /// How long to send, in milliseconds.
    #[arg(short = 'd', long = "duration-ms", default_value_t = 5000)]
    pub duration_ms: u64,
    /// A request header, `Name: value` (repeat for several).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Allow a target that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Your labgrade.toml (or the folder holding it); its folder is your repo.
    #[arg(short = 'c', long = "config", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Lab number or id (2, 02, 02-http-contracts).
    pub lab: String,
    /// Run only these checks (comma-separated or repeated), with the steps and the earlier
    /// checks they need. A partial run is not a grade: it is recorded as partial and never
    /// counts as an attempt.
    #[arg(long, value_name = "ID[,ID...]", value_delimiter = ',', conflicts_with = "failed")]
    pub only: Vec<String>,
    /// Re-run the checks that did not pass in this lab's last recorded run (a partial run).
    #[arg(long)]
    pub failed: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Lab number or id (2, 02, 02-http-contracts).
    pub lab: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// On each change, first re-run the checks that failed last time (and what they need);
    /// the whole lab runs when they all pass.
    #[arg(long)]
    pub failed_first: bool,
    /// Do not record the runs in the progress store (.labgrade/ in your repo).
    #[arg(long)]
    pub no_record: bool,
    /// Milliseconds of quiet after a change before grading (an editor saving several files
    /// is one change).
    #[arg(long, value_name = "MS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(50..=10_000))]
    pub debounce_ms: u64,
    /// Replay a run's generated inputs on every run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub seed: Option<u64>,
    /// Stop a run that takes longer than this.
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub deadline_secs: u64,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check what this lab needs (its files, its database); without it, every lab's.
    pub lab: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    /// human (✓/✗ lines) or json.
    #[arg(long, value_enum, default_value = "human")]
    pub format: DoctorFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    Human,
    Json,
}

/// What `check` and `grade` share: where the service is and where the reports go.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Do not record this run in the progress store (.labgrade/ in your repo).
    #[arg(long)]
    pub no_record: bool,
    /// When the run ends, print where its time went (per lab, check and step) to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Stop a lab that runs longer than this (exit 2, with the report so far).
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub deadline_secs: u64,
    /// Grade a service you already run at this URL; nothing is started or stopped.
    #[arg(long, value_name = "URL")]
    pub url: Option<url::Url>,
    /// Allow a target that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// Replay a run's generated inputs (its report prints the seed); each run picks a new
    /// one otherwise, so answers cannot be memorised.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub seed: Option<u64>,
    /// Report formats; repeat or separate with commas for several: human (the terminal),
    /// json, junit (JUnit XML), github (workflow annotations on stdout and a Markdown job
    /// summary).
    #[arg(long = "format", value_enum, default_value = "human", value_delimiter = ',')]
    pub formats: Vec<Format>,
    /// Where a format's report goes: `FORMAT=FILE` (junit=report.xml, json=report.json,
    /// github=summary.md), or a bare FILE for the one file format --format selects (json
    /// when it selects none). Repeat for several.
    #[arg(short = 'o', long = "output", value_name = "[FORMAT=]FILE")]
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Github,
}
