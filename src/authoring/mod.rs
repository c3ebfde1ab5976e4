//! Commands for instructors authoring labs (`labgrade lab lint|schema|new`), shell
//! completions and the man page.

pub mod scaffold;
pub mod schema;
pub mod verify;

use crate::error::Error;
use clap::{CommandFactory, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Check lab specs without running them: every mistake at once, each at file:line:col
    /// with what was expected. Exit 0 when clean, 2 when not.
    Lint {
        /// A labs folder (with track.toml), one lab folder, or one lab.toml [default: --labs or ./labs].
        path: Option<PathBuf>,
    },
    /// Print the JSON Schema of lab.toml, track.toml or labgrade.toml, for editors.
    Schema {
        #[arg(long, value_enum, default_value = "lab")]
        kind: SchemaKind,
    },
    /// Start a new lab: DIR/NAME/ with a README skeleton, a lab.toml with a rubric and one
    /// check of each common kind (it passes `lab lint`), and the schemas it names.
    New {
        /// The lab's id and folder name, e.g. 11-rate-limits.
        name: String,
        /// The labs folder to create it in [default: --labs, else ./labs if it exists, else .].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Hold a lab to its fault map: the reference must score 100 and each fault mode must
    /// fail exactly the checks the map names. Prints the fault × check table; exit 1 on any
    /// disagreement.
    Verify {
        /// Lab number or id.
        lab: String,
        /// The reference solution (a folder with labgrade.toml).
        #[arg(long, value_name = "DIR")]
        reference: PathBuf,
        /// The fault map [default: faults.toml in the reference].
        #[arg(long, value_name = "FILE")]
        faults: Option<PathBuf>,
        /// Grade every fault of the map, not only those that name a check of this lab.
        #[arg(long, conflicts_with = "fault")]
        all_faults: bool,
        /// Grade only this fault (repeat for several).
        #[arg(long, value_name = "NAME")]
        fault: Vec<String>,
        /// Print the result as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// `lab verify`: grade the reference and the chosen faults, print the table or JSON.
pub async fn verify_command(command: LabCommand, source: crate::spec::LabSource) -> Result<i32, Error> {
    let LabCommand::Verify { lab, reference, faults, all_faults, fault, json } = command else {
        unreachable!("only verify is async");
    };
    let catalog = crate::spec::Catalog::open(source)?;
    let entry = catalog.resolve(&lab)?;
    let lab = crate::grade::written(&catalog, &entry.id)?;
    let map = verify::load_map(&faults.unwrap_or_else(|| reference.join("faults.toml")))?;
    let selection = if all_faults {
        verify::Selection::All
    } else if !fault.is_empty() {
        verify::Selection::Named(fault)
    } else {
        verify::Selection::Mapped
    };
    let v = verify::verify(&catalog, &lab, &reference, &map, &selection).await?;
    if json {
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Environment(e.to_string()))?;
        out(format!("{text}\n").as_bytes());
    } else {
        let ids: Vec<String> = v
            .faults
            .first()
            .map(|f| f.outcomes.iter().map(|(id, _)| id.clone()).collect())
            .unwrap_or_else(|| lab.checks.iter().map(|c| c.id.clone()).collect());
        out(verify::table(&v, &ids).as_bytes());
    }
    Ok(if v.ok() { 0 } else { 1 })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// labs/NN-slug/lab.toml
    Lab,
    /// labs/track.toml
    Track,
    /// a learner's labgrade.toml
    Config,
}

fn default_labs(labs: Option<&Path>) -> PathBuf {
    match labs {
        Some(d) => d.to_path_buf(),
        None if Path::new("labs").is_dir() => PathBuf::from("labs"),
        None => PathBuf::from("."),
    }
}

pub fn run(command: LabCommand, labs: Option<&Path>) -> Result<i32, Error> {
    match command {
        LabCommand::Lint { path } => {
            let path = path.unwrap_or_else(|| default_labs(labs));
            let report = crate::lint::lint_path(&path).map_err(Error::Usage)?;
            out(report.render().as_bytes());
            Ok(if report.diagnostics.is_empty() { 0 } else { 2 })
        }
        LabCommand::Schema { kind } => {
            let v = match kind {
                SchemaKind::Lab => schema::lab(),
                SchemaKind::Track => schema::track(),
                SchemaKind::Config => schema::config(),
            };
            let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Environment(e.to_string()))?;
            out(format!("{text}\n").as_bytes());
            Ok(0)
        }
        LabCommand::Verify { .. } => Err(Error::Usage("lab verify runs through verify_command".into())),
        LabCommand::New { name, dir } => {
            let dir = dir.unwrap_or_else(|| default_labs(labs));
            let lab = scaffold::write(&dir, &name).map_err(Error::Usage)?;
            println!(
                "wrote {} — edit lab.toml and README.md, check them with `labgrade lab lint {}`, and add the lab to track.toml",
                lab.display(),
                lab.display()
            );
            Ok(0)
        }
    }
}

/// Write to stdout; a reader that went away (`| head`) is not an error worth a panic.
fn out(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}

/// Print a completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = crate::cli::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "labgrade", &mut buf);
    out(&buf);
    0
}

/// Print the man page (roff).
pub fn man() -> Result<i32, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::cli::Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Environment(format!("cannot render the man page: {e}")))?;
    self::out(&out);
    Ok(0)
}
