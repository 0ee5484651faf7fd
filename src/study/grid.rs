//! A comparison's grid (`coldstart compare`): a scenario (a file or the
//! default) with its fixed overrides, the axes that vary (each a scenario
//! key and its values), and the seeds. Every combination of one value per
//! axis runs once per seed.
//!
//! Combinations are numbered row-major: the first axis varies slowest, the
//! last fastest. A run is combination-major: run `r` is combination
//! `r / seeds`, seed `r % seeds`. The same numbering names job files
//! (`--emit-jobs`) and orders the output, so it does not depend on the
//! order in which runs finish.

use crate::scenario::{self, Scenario, ScenarioError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The most combinations × seeds one comparison may have: a bound on the
/// memory of its results and on the files `--emit-jobs` writes.
pub const RUNS_MAX: usize = 1_000_000;

/// One axis: a scenario key and the values it takes, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// As shown in the table's header: the policy's name for `--policy`
    /// (`keep-alive-policy`), the key path for `--set`.
    pub name: String,
    /// The scenario key path it sets (`provider.policy.keep_alive_policy`).
    pub key: String,
    /// The values as written on the command line.
    pub values: Vec<String>,
}

/// What identifies a comparison: the same in every job and result file of
/// it, so that `merge` can refuse files of another comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridHeader {
    /// The scenario's name: its file's path as given, or `default`.
    pub scenario: String,
    /// The axes, in the order given: each a key and its values.
    pub axes: Vec<Axis>,
    /// The seeds every combination runs with.
    pub seeds: Vec<u64>,
    /// A hash (16 hex digits) of the scenario with its fixed overrides, the
    /// axes and the seeds: two comparisons with equal names and axes but
    /// different files or overrides differ here.
    pub fingerprint: String,
}

impl GridHeader {
    /// Saturating: a header read from a file may claim any size, and is
    /// refused above [`RUNS_MAX`] runs rather than overflowing.
    pub fn combinations(&self) -> usize {
        self.axes.iter().fold(1_usize, |product, axis| {
            product.saturating_mul(axis.values.len())
        })
    }

    /// How many runs the grid is: combinations × seeds (saturating).
    pub fn runs(&self) -> usize {
        self.combinations().saturating_mul(self.seeds.len())
    }

    /// Each axis's value in `combination` (row-major, first axis slowest).
    pub fn labels(&self, combination: usize) -> Vec<String> {
        let mut rest = combination;
        let mut labels = vec![String::new(); self.axes.len()];
        for (label, axis) in labels.iter_mut().zip(&self.axes).rev() {
            // An axis without values (only in a damaged file, which is
            // refused) has no combination; its label stays empty.
            let count = axis.values.len().max(1);
            *label = axis.values.get(rest % count).cloned().unwrap_or_default();
            rest /= count;
        }
        labels
    }

    /// Checks a header read from a file against what [`Grid::new`] makes:
    /// a fingerprint of 16 lowercase hex digits, at least one seed and no
    /// seed twice, axes of two or more distinct values with distinct names
    /// and keys, at most [`RUNS_MAX`] runs. The problem names the field.
    pub fn check(&self) -> Result<(), String> {
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if self.fingerprint.len() != 16 || !self.fingerprint.chars().all(hex) {
            return Err(format!(
                "grid.fingerprint `{}` is not 16 lowercase hex digits",
                crate::files::echo(&self.fingerprint)
            ));
        }
        if self.seeds.is_empty() {
            return Err("grid.seeds is empty".to_string());
        }
        if let Some(seed) = first_repeated(&self.seeds) {
            return Err(format!("grid.seeds lists {seed} twice"));
        }
        for (index, axis) in self.axes.iter().enumerate() {
            if axis.values.len() < 2 {
                return Err(format!(
                    "grid.axes[{index}] ({}) has fewer than 2 values",
                    crate::files::echo(&axis.name)
                ));
            }
            if let Some(value) = first_repeated(&axis.values) {
                return Err(format!(
                    "grid.axes[{index}] ({}) lists `{}` twice",
                    crate::files::echo(&axis.name),
                    crate::files::echo(value)
                ));
            }
        }
        let names: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        let keys: Vec<&str> = self.axes.iter().map(|a| a.key.as_str()).collect();
        if let Some(name) = first_repeated(&names) {
            return Err(format!(
                "grid.axes names `{}` twice",
                crate::files::echo(name)
            ));
        }
        if let Some(key) = first_repeated(&keys) {
            return Err(format!(
                "grid.axes sets `{}` twice",
                crate::files::echo(key)
            ));
        }
        if self.runs() > RUNS_MAX {
            return Err(format!("its grid claims more than {RUNS_MAX} runs"));
        }
        Ok(())
    }

    /// Checks that a job's scenario table holds `combination`'s value of
    /// every axis (a trace path axis excepted: the job holds it absolute).
    pub fn check_table(&self, combination: usize, table: &toml::Table) -> Result<(), String> {
        for (axis, value) in self.axes.iter().zip(self.labels(combination)) {
            if axis.key == TRACE_PATH_KEY {
                continue;
            }
            let mut with_value = table.clone();
            let agrees = scenario::apply_set(&mut with_value, &set_argument(&axis.key, &value))
                .is_ok()
                && with_value == *table;
            if !agrees {
                return Err(format!(
                    "scenario: {} is not {}, its label in combination {combination}",
                    crate::files::echo(&axis.key),
                    crate::files::echo(&value)
                ));
            }
        }
        Ok(())
    }

    /// `name=value` for every axis, or the scenario's name when nothing
    /// varies: how errors and the plot name a combination.
    pub fn describe(&self, combination: usize) -> String {
        if self.axes.is_empty() {
            return self.scenario.clone();
        }
        self.axes
            .iter()
            .zip(self.labels(combination))
            .map(|(axis, value)| format!("{}={value}", axis.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A comparison ready to run: the header, and the scenario table every run
/// starts from.
#[derive(Clone, Debug)]
pub struct Grid {
    /// What identifies the comparison.
    pub header: GridHeader,
    /// The scenario file's table (empty for the default) with the fixed
    /// overrides applied and the trace path, if any, made absolute.
    base: toml::Table,
    /// Where relative trace paths of the axes' values start: the scenario
    /// file's directory.
    base_dir: PathBuf,
    /// Each axis's flag as given, without its values (`--policy
    /// keep-alive-policy`), for errors.
    axis_flags: Vec<String>,
}

/// Why a grid cannot be built. Its `Display` is one line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GridError {
    /// A flag's argument: the flag as given, and the problem.
    Flag {
        /// The flag as given, e.g. `--set workload.invocations=1,2`.
        flag: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The scenario (the file, or a fixed override) is refused.
    Scenario(ScenarioError),
}

impl std::fmt::Display for GridError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GridError::Flag { flag, problem } => write!(f, "{flag}: {problem}"),
            GridError::Scenario(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for GridError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GridError::Scenario(error) => Some(error),
            GridError::Flag { .. } => None,
        }
    }
}

/// A grid argument before it is checked: `--policy NAME=V1,V2` or `--set
/// KEY=V1,V2`, as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GridArgument {
    /// `--policy NAME=V1,V2`: a policy axis, as given after the flag.
    Policy(String),
    /// `--set KEY=V1,V2`: a scenario key's axis, as given after the flag.
    Set(String),
}

impl GridArgument {
    fn flag(&self) -> String {
        match self {
            GridArgument::Policy(text) => format!("--policy {text}"),
            GridArgument::Set(text) => format!("--set {text}"),
        }
    }
}

/// Splits `V1,V2,…` at the commas that are not inside brackets, braces or
/// quotes, so that a TOML array or inline table is one value
/// (`[1, 2],[3]` is two values).
pub fn split_values(text: &str) -> Result<Vec<String>, String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut depth: u32 = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(open), _) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                values.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    values.push(current);
    let values: Vec<String> = values.into_iter().map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err("an empty value in the list".into());
    }
    for (index, value) in values.iter().enumerate() {
        if values[..index].contains(value) {
            return Err(format!("`{value}` is listed twice"));
        }
    }
    Ok(values)
}

/// `NAME=V1,V2` → the axis's name, its key path and values.
fn parse_argument(argument: &GridArgument) -> Result<Axis, GridError> {
    let flag_error = |problem: String| GridError::Flag {
        flag: argument.flag(),
        problem,
    };
    let (GridArgument::Policy(text) | GridArgument::Set(text)) = argument;
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| flag_error("expected NAME=VALUE[,VALUE…]".into()))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(flag_error("the name before `=` is empty".into()));
    }
    let key = match argument {
        // A policy axis is the scenario key of that name under
        // [provider.policy], as the command line spells it.
        GridArgument::Policy(_) => format!("provider.policy.{}", name.replace('-', "_")),
        GridArgument::Set(_) => name.to_string(),
    };
    Ok(Axis {
        name: name.to_string(),
        key,
        values: split_values(values).map_err(flag_error)?,
    })
}

/// A scenario error under a flag that names the `--set` already: a `Set`
/// error's text would name it again.
fn set_problem(error: ScenarioError) -> String {
    match error {
        ScenarioError::Set { problem, .. } => problem,
        error => error.to_string(),
    }
}

/// A value for `key`, as `--set` reads it.
/// The scenario key of a trace's path, made absolute in job files.
const TRACE_PATH_KEY: &str = "workload.trace.path";

/// The first value that comes twice, if any.
fn first_repeated<T: Ord>(values: &[T]) -> Option<&T> {
    let mut seen = std::collections::BTreeSet::new();
    values.iter().find(|value| !seen.insert(*value))
}

fn set_argument(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

impl Grid {
    /// The grid of `scenario_path` (or the default scenario) with `fixed`
    /// `--set`s applied in order, then one axis per argument of `varied`
    /// with two or more values (an argument with one value is applied as a
    /// fixed override, before the axes), over `seeds` seeds starting at
    /// `first_seed` (default: the scenario's). Every axis value, and every
    /// combination, is resolved once here, so a bad value is refused before
    /// anything runs.
    pub fn new(
        scenario_path: Option<&Path>,
        fixed: &[String],
        varied: &[GridArgument],
        first_seed: Option<u64>,
        seeds: u64,
    ) -> Result<Grid, GridError> {
        if seeds == 0 {
            return Err(GridError::Flag {
                flag: "--seeds".into(),
                problem: "must be at least 1".into(),
            });
        }
        let (mut base, base_dir, name) = match scenario_path {
            Some(path) => (
                scenario::read_table(path).map_err(GridError::Scenario)?,
                scenario::base_of(path).to_path_buf(),
                path.display().to_string(),
            ),
            None => (
                toml::Table::new(),
                PathBuf::from("."),
                "default".to_string(),
            ),
        };
        for argument in fixed {
            scenario::apply_set(&mut base, argument).map_err(GridError::Scenario)?;
        }
        let mut axes: Vec<Axis> = Vec::new();
        let mut axis_flags = Vec::new();
        for argument in varied {
            let axis = parse_argument(argument)?;
            if axis.values.len() == 1 {
                let set = set_argument(&axis.key, &axis.values[0]);
                scenario::apply_set(&mut base, &set).map_err(|error| GridError::Flag {
                    flag: argument.flag(),
                    problem: set_problem(error),
                })?;
                continue;
            }
            if let Some(other) = axes.iter().find(|other| other.key == axis.key) {
                return Err(GridError::Flag {
                    flag: argument.flag(),
                    problem: format!("{} is already an axis (as `{}`)", axis.key, other.name),
                });
            }
            axis_flags.push(match argument {
                GridArgument::Policy(_) => format!("--policy {}", axis.name),
                GridArgument::Set(_) => format!("--set {}", axis.name),
            });
            axes.push(axis);
        }
        absolute_trace_path(&mut base, &base_dir);
        let resolved = scenario::from_table(base.clone(), &name, &base_dir, None)
            .map_err(GridError::Scenario)?;
        let first_seed = first_seed.unwrap_or(resolved.seed);
        let seeds: Vec<u64> = (0..seeds).map(|i| first_seed.wrapping_add(i)).collect();
        let fingerprint = fingerprint(&base, &axes, &seeds);
        let grid = Grid {
            header: GridHeader {
                scenario: name,
                axes,
                seeds,
                fingerprint,
            },
            base,
            base_dir,
            axis_flags,
        };
        grid.check()?;
        Ok(grid)
    }

    /// Resolves each axis value alone (so an error names its flag), then
    /// every combination with the first seed.
    fn check(&self) -> Result<(), GridError> {
        let runs = self.header.runs();
        if runs > RUNS_MAX {
            return Err(GridError::Flag {
                flag: "--seeds".into(),
                problem: format!(
                    "{} combinations × {} seeds is more than {RUNS_MAX} runs",
                    self.header.combinations(),
                    self.header.seeds.len()
                ),
            });
        }
        let first_seed = self.header.seeds[0];
        for (axis, flag) in self.header.axes.iter().zip(&self.axis_flags) {
            for value in &axis.values {
                let mut table = self.base.clone();
                let resolved = scenario::apply_set(&mut table, &set_argument(&axis.key, value))
                    .and_then(|()| {
                        absolute_trace_path(&mut table, &self.base_dir);
                        scenario::from_table(table, "", &self.base_dir, Some(first_seed))
                    });
                if let Err(error) = resolved {
                    return Err(GridError::Flag {
                        flag: format!("{flag}={value}"),
                        problem: set_problem(error),
                    });
                }
            }
        }
        for combination in 0..self.header.combinations() {
            self.scenario(combination, first_seed)
                .map_err(|error| GridError::Flag {
                    flag: self.header.describe(combination),
                    problem: error.to_string(),
                })?;
        }
        Ok(())
    }

    /// The scenario table of `combination`: the base with each axis's
    /// value set, the trace path absolute. With a seed, it is what a job
    /// file carries.
    pub fn table(&self, combination: usize) -> Result<toml::Table, ScenarioError> {
        let mut table = self.base.clone();
        for (axis, value) in self.header.axes.iter().zip(self.header.labels(combination)) {
            scenario::apply_set(&mut table, &set_argument(&axis.key, &value))?;
        }
        absolute_trace_path(&mut table, &self.base_dir);
        Ok(table)
    }

    /// The scenario one run plays.
    pub fn scenario(&self, combination: usize, seed: u64) -> Result<Scenario, ScenarioError> {
        scenario::from_table(
            self.table(combination)?,
            &self.header.scenario,
            &self.base_dir,
            Some(seed),
        )
    }
}

/// Replaces a relative `workload.trace.path` by the absolute path it names
/// (relative to `base_dir`, then to the working directory), so a job file
/// does not depend on where it is run from.
fn absolute_trace_path(table: &mut toml::Table, base_dir: &Path) {
    let path = table
        .get_mut("workload")
        .and_then(|workload| workload.get_mut("trace"))
        .and_then(|trace| trace.get_mut("path"));
    if let Some(toml::Value::String(path)) = path {
        let joined = base_dir.join(&*path);
        let absolute = std::path::absolute(&joined).unwrap_or(joined);
        *path = absolute.display().to_string();
    }
}

fn fingerprint(base: &toml::Table, axes: &[Axis], seeds: &[u64]) -> String {
    let identity = serde_json::json!({ "base": base, "axes": axes, "seeds": seeds });
    format!(
        "{:016x}",
        crate::driver::digest::hash_bytes(identity.to_string().as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_at_top_level_commas() {
        assert_eq!(
            split_values("fixed, hybrid ,greedy-dual").unwrap(),
            ["fixed", "hybrid", "greedy-dual"]
        );
        assert_eq!(
            split_values("[1, 2],{ a = 1, b = \"x,y\" },'p,q'").unwrap(),
            ["[1, 2]", "{ a = 1, b = \"x,y\" }", "'p,q'"]
        );
        assert_eq!(split_values("5min").unwrap(), ["5min"]);
        assert_eq!(
            split_values("a,,b").unwrap_err(),
            "an empty value in the list"
        );
        assert_eq!(split_values("a,b,a").unwrap_err(), "`a` is listed twice");
    }

    fn header(axes: &[(&str, &[&str])]) -> GridHeader {
        GridHeader {
            scenario: "s".into(),
            axes: axes
                .iter()
                .map(|(name, values)| Axis {
                    name: name.to_string(),
                    key: name.to_string(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                })
                .collect(),
            seeds: vec![1, 2],
            fingerprint: String::new(),
        }
    }

    #[test]
    fn combinations_are_row_major() {
        let header = header(&[("a", &["x", "y"]), ("b", &["1", "2", "3"])]);
        assert_eq!((header.combinations(), header.runs()), (6, 12));
        assert_eq!(header.labels(0), ["x", "1"]);
        assert_eq!(header.labels(2), ["x", "3"]);
        assert_eq!(header.labels(3), ["y", "1"]);
        assert_eq!(header.describe(5), "a=y, b=3");
        let none = super::tests::header(&[]);
        assert_eq!((none.combinations(), none.labels(0).len()), (1, 0));
        assert_eq!(none.describe(0), "s");
    }

    fn policy(text: &str) -> GridArgument {
        GridArgument::Policy(text.into())
    }

    #[test]
    fn a_grid_resolves_every_combination_up_front() {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/default.toml");
        let grid = Grid::new(
            Some(&default),
            &["workload.invocations=10".into()],
            &[
                policy("keep-alive-policy=fixed,hybrid"),
                GridArgument::Set("provider.hosts[0].count=2,3".into()),
                policy("image-eviction=lfu"),
            ],
            Some(7),
            3,
        )
        .unwrap();
        let header = &grid.header;
        assert_eq!(header.axes.len(), 2);
        assert_eq!(header.axes[0].key, "provider.policy.keep_alive_policy");
        assert_eq!(header.seeds, [7, 8, 9]);
        // Combination 3 is (hybrid, 3 hosts); the one-valued axis applies
        // to every run.
        let scenario = grid.scenario(3, 8).unwrap();
        assert_eq!(scenario.seed, 8);
        assert_eq!(scenario.config.hosts.len(), 3);
        assert_eq!(scenario.policies.image_eviction, crate::ImageEviction::Lfu);
        assert!(matches!(
            scenario.policies.keep_alive_policy,
            crate::KeepAlivePolicy::HybridHistogram(_)
        ));
        let other = Grid::new(
            None,
            &[],
            &[policy("keep-alive-policy=fixed,hybrid")],
            Some(7),
            3,
        )
        .unwrap();
        assert_ne!(other.header.fingerprint, header.fingerprint);
    }

    #[test]
    fn a_bad_value_names_its_flag() {
        let error = |varied: &[GridArgument]| {
            Grid::new(None, &[], varied, None, 1)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(&[policy("keep-alive-policy=fixed,lazy")]),
            "--policy keep-alive-policy=lazy: provider.policy.keep_alive_policy: unknown \
             keep-alive policy `lazy`; one of: fixed[:SECONDS] (600), hybrid, greedy-dual"
        );
        assert!(
            error(&[GridArgument::Set("provider.colour=red,blue".into())])
                .starts_with("--set provider.colour=red: provider.colour: unknown field `colour`")
        );
        assert_eq!(
            error(&[GridArgument::Set("provider.hosts[0]=1".into())]),
            "--set provider.hosts[0]=1: provider.hosts is not in the scenario: only a list \
             the file gives has elements to set (examples/default.toml spells out the default \
             scenario)"
        );
        assert_eq!(
            error(&[policy("keep-alive-policy")]),
            "--policy keep-alive-policy: expected NAME=VALUE[,VALUE…]"
        );
        assert_eq!(
            error(&[
                policy("keep-alive-policy=fixed,hybrid"),
                GridArgument::Set("provider.policy.keep_alive_policy=hybrid,fixed".into())
            ]),
            "--set provider.policy.keep_alive_policy=hybrid,fixed: \
             provider.policy.keep_alive_policy is already an axis (as `keep-alive-policy`)"
        );
    }

    #[test]
    fn a_trace_path_becomes_absolute() {
        let mut table: toml::Table = "[workload.trace]\npath = \"t.csv\"".parse().unwrap();
        absolute_trace_path(&mut table, Path::new("/data/run"));
        assert_eq!(
            table["workload"]["trace"]["path"].as_str(),
            Some("/data/run/t.csv")
        );
    }
}
