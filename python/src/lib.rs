//! `coldstart._native`: the extension module under the Python package
//! `coldstart` (python/coldstart/). It adds no model of its own: every
//! figure comes from the library — a run from `study::compare::run_scenario`
//! (what `coldstart simulate --json` prints), a comparison from
//! `study::compare` (what `coldstart compare --json` prints), a replay from
//! `log::replay` and `report::fields` (what `coldstart replay --json`
//! prints), and the step API from `coldstart::Provider`.
//!
//! Values cross the boundary in the library's serde (JSON) form, ids as
//! their packed integers, with the one change that a tagged enum (an
//! event's kind, an input's command, a state) becomes a flat dict with the
//! variant's name under one key (`kind`, `command`, `state`, `outcome`).
//! Errors are the exceptions of python/coldstart/__init__.py, each message
//! the Rust error's one-line `Display`. Runs, comparisons, replays,
//! waits and the harness release the GIL.
//!
//! Modules: `policy` (policies written in Python), `recorder` (the
//! `Recorder` class: a provider that writes a command log), `harness` (the
//! policy harness on a Python policy), `topy` (events into dicts without
//! JSON in between).

mod harness;
mod policy;
mod recorder;
mod topy;

use coldstart::driver::DriverOptions;
use coldstart::log::{self, LogReader, RunError};
use coldstart::report::{self, Latencies};
use coldstart::scenario::{self, Scenario, ScenarioError as ScenarioProblem};
use coldstart::simulate::SimulateError;
use coldstart::study::compare;
use coldstart::study::grid::{Grid, GridArgument, GridError};
use coldstart::FunctionDef;
use coldstart::{Config, Event, Input, InvocationId, Refused as RefusedStep};
use policy::{sharing_failures, Policy};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

create_exception!(
    coldstart,
    Error,
    PyException,
    "The base of every error coldstart raises."
);
create_exception!(
    coldstart,
    ScenarioError,
    Error,
    "A scenario (file, dict, `set=` override or grid axis) was refused; the message names the key's path."
);
create_exception!(
    coldstart,
    ConfigError,
    Error,
    "The provider's configuration is invalid."
);
create_exception!(
    coldstart,
    SimulationError,
    Error,
    "A run failed part way (a refused step, a broken invariant, undrained timers, a trace's bad line)."
);
create_exception!(
    coldstart,
    LogError,
    Error,
    "A command log could not be read, or its replay failed or did not verify."
);
create_exception!(
    coldstart,
    InputError,
    Error,
    "An input dict does not describe an input (a missing or mistyped field)."
);
create_exception!(
    coldstart,
    Refused,
    Error,
    "The provider refused an input: `refusal` holds the refusal as a dict, `events` the events of the timers that fired before it was judged."
);
create_exception!(
    coldstart,
    ClientError,
    Error,
    "`get_state` or `get_output` of an unknown invocation, or the output of one that did not complete."
);
create_exception!(
    coldstart,
    WaitError,
    Error,
    "A wait could not finish: the invocation is unknown, no timer is left, or the deadline came first."
);
create_exception!(
    coldstart,
    InvariantViolation,
    Error,
    "`check_invariants` found a broken invariant."
);
create_exception!(
    coldstart,
    SnapshotError,
    Error,
    "Bytes given to `Provider.restore` are not a snapshot of this version of coldstart."
);
create_exception!(
    coldstart,
    PolicyError,
    Error,
    "A policy written in Python raised (its exception is the `__cause__`), answered something that is not a decision, or could not be copied; or a provider whose policy failed was used again."
);
create_exception!(
    coldstart,
    HarnessError,
    Error,
    "The policy harness could not check the policy (an invalid configuration is a ConfigError)."
);
create_exception!(
    coldstart,
    PolicyFinding,
    HarnessError,
    "The policy harness found a problem: `finding` is the Finding (the problem, the configuration and inputs that show it, a way to record it)."
);

// ---------------------------------------------------------------------------
// Values across the boundary.

/// A JSON value as the Python value `json.loads` would give.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python value (None, bool, int, float, str, list or tuple, dict with
/// str keys) as JSON.
pub(crate) fn from_py(object: &Bound<'_, PyAny>) -> PyResult<Value> {
    if object.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = object.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if object.cast::<PyInt>().is_ok() {
        if let Ok(u) = object.extract::<u64>() {
            return Ok(Value::from(u));
        }
        if let Ok(i) = object.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Err(InputError::new_err(format!(
            "{object} does not fit in 64 bits"
        )));
    }
    if let Ok(f) = object.cast::<PyFloat>() {
        return Ok(Value::from(f.value()));
    }
    if let Ok(s) = object.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(dict) = object.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let key: String = key
                .extract()
                .map_err(|_| InputError::new_err(format!("dict key {key} is not a str")))?;
            map.insert(key, from_py(&item)?);
        }
        return Ok(Value::Object(map));
    }
    if object.cast::<PyList>().is_ok() || object.cast::<PyTuple>().is_ok() {
        let mut items = Vec::new();
        for item in object.try_iter()? {
            items.push(from_py(&item?)?);
        }
        return Ok(Value::Array(items));
    }
    Err(InputError::new_err(format!(
        "cannot convert a {} to a coldstart value",
        object.get_type().name()?
    )))
}

/// A Python dict shaped like a scenario file, as a TOML table. `None` has
/// no TOML form, so it is refused with its key's path.
fn toml_of(value: &Value, path: &str) -> Result<toml::Value, ScenarioProblem> {
    let refuse = |problem: &str| ScenarioProblem::Key {
        path: if path.is_empty() {
            "(top level)".into()
        } else {
            path.to_string()
        },
        problem: problem.to_string(),
    };
    Ok(match value {
        Value::Null => return Err(refuse("None has no TOML value (leave the key out)")),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None if n.is_u64() => return Err(refuse("an integer above 2^63 - 1")),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| toml_of(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut table = toml::Table::new();
            for (key, item) in map {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                table.insert(key.clone(), toml_of(item, &inner)?);
            }
            toml::Value::Table(table)
        }
    })
}

/// `{"Variant": {fields}}` or `"Variant"` (serde's external tagging) as
/// `{tag: "Variant", fields…}` into `out`. Anything else is put under `tag`
/// as it is.
pub(crate) fn flatten_into(out: &mut Map<String, Value>, tag: &str, value: Value) {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (name, inner) = map.into_iter().next().expect("one entry");
            out.insert(tag.to_string(), Value::String(name));
            match inner {
                Value::Object(fields) => out.extend(fields),
                other => {
                    out.insert("value".to_string(), other);
                }
            }
        }
        other => {
            out.insert(tag.to_string(), other);
        }
    }
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> PyResult<Value> {
    serde_json::to_value(value).map_err(|error| Error::new_err(error.to_string()))
}

/// A flat dict, the keys of `first` (those present) before the others.
pub(crate) fn ordered<'py>(
    py: Python<'py>,
    value: &Value,
    first: &[&str],
) -> PyResult<Bound<'py, PyAny>> {
    let Value::Object(map) = value else {
        return to_py(py, value);
    };
    let dict = PyDict::new(py);
    for key in first {
        if let Some(item) = map.get(*key) {
            dict.set_item(key, to_py(py, item)?)?;
        }
    }
    for (key, item) in map {
        if !first.contains(&key.as_str()) {
            dict.set_item(key, to_py(py, item)?)?;
        }
    }
    Ok(dict.into_any())
}

pub(crate) fn event_dict<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyAny>> {
    topy::event(py, event)
}

pub(crate) fn events_list<'py>(py: Python<'py>, events: &[Event]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for event in events {
        list.append(event_dict(py, event)?)?;
    }
    Ok(list)
}

/// An `Ending` (`{at_us, outcome: {Completed: {…}}}`) flattened into `out`.
fn ending_into(out: &mut Map<String, Value>, ending: Value) {
    if let Value::Object(map) = ending {
        for (key, value) in map {
            if key == "outcome" {
                flatten_into(out, "outcome", value);
            } else {
                out.insert(key, value);
            }
        }
    }
}

/// An invocation state as `{"state": "Running", "host": …, …}`; an ended
/// one as `{"state": "Ended", "at_us": …, "outcome": "Completed", …}`.
pub(crate) fn state_value(state: &coldstart::InvocationState) -> PyResult<Value> {
    let mut out = Map::new();
    match state {
        coldstart::InvocationState::Ended(ending) => {
            out.insert("state".into(), Value::from("Ended"));
            ending_into(&mut out, json(ending)?);
        }
        other => flatten_into(&mut out, "state", json(other)?),
    }
    Ok(Value::Object(out))
}

/// A finished invocation as `{"invocation": …, "at_us": …, "outcome": …}`.
pub(crate) fn finished_value(finished: &coldstart::Finished) -> PyResult<Value> {
    let mut out = Map::new();
    out.insert(
        "invocation".into(),
        Value::from(finished.invocation.to_bits()),
    );
    ending_into(&mut out, json(&finished.ending)?);
    Ok(Value::Object(out))
}

/// An input dict: `{"at_us": T, "command": "Name", fields…}` (flat), or the
/// log's JSON form `{"at_us": T, "command": {"Name": {fields…}}}`.
pub(crate) fn input_of(object: &Bound<'_, PyAny>) -> PyResult<Input> {
    if let Some(input) = fast_input(object) {
        return Ok(input);
    }
    let value = from_py(object)?;
    let Value::Object(mut map) = value else {
        return Err(InputError::new_err(
            "an input is a dict with `at_us` and `command`",
        ));
    };
    let at_us = map
        .remove("at_us")
        .ok_or_else(|| InputError::new_err("an input needs `at_us`"))?;
    let command = map
        .remove("command")
        .ok_or_else(|| InputError::new_err("an input needs `command`"))?;
    let command = match command {
        Value::String(name) if !map.is_empty() => {
            let mut tagged = Map::new();
            tagged.insert(name, Value::Object(std::mem::take(&mut map)));
            Value::Object(tagged)
        }
        other => other,
    };
    if let Some(key) = map.keys().next() {
        return Err(InputError::new_err(format!(
            "unknown field `{key}` beside a nested command"
        )));
    }
    let mut input = Map::new();
    input.insert("at_us".into(), at_us);
    input.insert("command".into(), command);
    serde_json::from_value(Value::Object(input))
        .map_err(|error| InputError::new_err(format!("not an input: {error}")))
}

/// Whether `dict` has the key `name`.
fn def_has(dict: &Bound<'_, PyDict>, py: Python<'_>, name: &str) -> bool {
    dict.contains(PyString::new(py, name)).unwrap_or(false)
}

/// The step API's hot path: the flat dicts the helpers make for the
/// common commands, read field by field. None for anything else — or
/// anything off (a missing, extra or mistyped field) — which the general
/// path then reads, or refuses with serde's message.
fn fast_input(object: &Bound<'_, PyAny>) -> Option<Input> {
    use coldstart::{Code, Command, FunctionId, ImageId, Outcome, Phase};
    let dict = object.cast::<PyDict>().ok()?;
    let py = object.py();
    let field = |dict: &Bound<'_, PyDict>, key: &Bound<'_, PyString>| -> Option<u64> {
        let value = dict.get_item(key).ok()??;
        if value.cast::<PyBool>().is_ok() {
            return None;
        }
        value.extract::<u64>().ok()
    };
    let at_us = field(dict, pyo3::intern!(py, "at_us"))?;
    let command = dict.get_item(pyo3::intern!(py, "command")).ok()??;
    let command = command.cast::<PyString>().ok()?.to_cow().ok()?;
    let (command, fields) = match &*command {
        "Advance" => (Command::Advance, 0),
        "MainStorageLost" => (Command::MainStorageLost, 0),
        "RegisterImage" => (
            Command::RegisterImage {
                size_bytes: field(dict, pyo3::intern!(py, "size_bytes"))?,
            },
            1,
        ),
        "Invoke" => {
            let code = dict.get_item(pyo3::intern!(py, "code")).ok()??;
            let code = code.cast::<PyDict>().ok()?;
            let outcome = code.get_item(pyo3::intern!(py, "outcome")).ok()??;
            let outcome = outcome.cast::<PyDict>().ok()?;
            if code.len() != 4 || outcome.len() != 1 {
                return None;
            }
            let outcome =
                if let Some(success) = outcome.get_item(pyo3::intern!(py, "Success")).ok()? {
                    let success = success.cast::<PyDict>().ok()?;
                    if success.len() != 1 {
                        return None;
                    }
                    Outcome::Success {
                        output: field(success, pyo3::intern!(py, "output"))?,
                    }
                } else {
                    let failure = outcome.get_item(pyo3::intern!(py, "Failure")).ok()??;
                    let failure = failure.cast::<PyDict>().ok()?;
                    let phase = failure.get_item(pyo3::intern!(py, "phase")).ok()??;
                    let phase = match &*phase.cast::<PyString>().ok()?.to_cow().ok()? {
                        "Clone" => Phase::Clone,
                        "Build" => Phase::Build,
                        "Run" => Phase::Run,
                        _ => return None,
                    };
                    if failure.len() != 1 {
                        return None;
                    }
                    Outcome::Failure { phase }
                };
            let code = Code {
                clone_us: field(code, pyo3::intern!(py, "clone_us"))?,
                build_us: field(code, pyo3::intern!(py, "build_us"))?,
                run_us: field(code, pyo3::intern!(py, "run_us"))?,
                outcome,
            };
            (
                Command::Invoke {
                    function: FunctionId::from_bits(field(dict, pyo3::intern!(py, "function"))?),
                    code,
                    ingress_bytes: field(dict, pyo3::intern!(py, "ingress_bytes"))?,
                    egress_bytes: field(dict, pyo3::intern!(py, "egress_bytes"))?,
                },
                4,
            )
        }
        "RegisterFunction" => (
            {
                // Read in the order the fields are documented, so the first
                // missing one is the one named.
                let image = ImageId::from_bits(field(dict, pyo3::intern!(py, "image"))?);
                let memory_bytes = field(dict, pyo3::intern!(py, "memory_bytes"))?;
                let scratch_bytes = field(dict, pyo3::intern!(py, "scratch_bytes"))?;
                let time_limit_us = field(dict, pyo3::intern!(py, "time_limit_us"))?;
                let mut def = FunctionDef::new(image, memory_bytes, time_limit_us)
                    .with_scratch_bytes(scratch_bytes);
                // The optional start costs: an integer, or absent (a
                // `None` value goes to the general path, which reads it
                // as absent too).
                let cold = pyo3::intern!(py, "cold_start_us");
                if dict.contains(cold).ok()? {
                    def = def.with_cold_start_us(field(dict, cold)?);
                }
                let warm = pyo3::intern!(py, "warm_start_us");
                if dict.contains(warm).ok()? {
                    def = def.with_warm_start_us(field(dict, warm)?);
                }
                // The optional concurrency (spec R57a): an integer, or
                // absent for 1.
                let concurrency = pyo3::intern!(py, "concurrency");
                if dict.contains(concurrency).ok()? {
                    // One past u32 goes to the general path, which names it.
                    def = def.with_concurrency(u32::try_from(field(dict, concurrency)?).ok()?);
                }
                // The optional warm floor (spec R159): an integer, or
                // absent for 0.
                let min_scale = pyo3::intern!(py, "min_scale");
                if dict.contains(min_scale).ok()? {
                    def = def.with_min_scale(u32::try_from(field(dict, min_scale)?).ok()?);
                }
                // The optional CPU demand (spec R85f): an integer of
                // millicores, or absent for 1,000.
                let cpu_millis = pyo3::intern!(py, "cpu_millis");
                if dict.contains(cpu_millis).ok()? {
                    def = def.with_cpu_millis(u32::try_from(field(dict, cpu_millis)?).ok()?);
                }
                Command::RegisterFunction(def)
            },
            4 + usize::from(def_has(dict, py, "cold_start_us"))
                + usize::from(def_has(dict, py, "warm_start_us"))
                + usize::from(def_has(dict, py, "concurrency"))
                + usize::from(def_has(dict, py, "min_scale"))
                + usize::from(def_has(dict, py, "cpu_millis")),
        ),
        _ => return None,
    };
    // at_us, command and the command's own fields, nothing else.
    (dict.len() == 2 + fields).then_some(Input { at_us, command })
}

pub(crate) const FINISHED_FIRST: &[&str] = &["invocation", "at_us", "outcome"];

pub(crate) fn invocation_of(bits: u64) -> InvocationId {
    InvocationId::from_bits(bits)
}

// ---------------------------------------------------------------------------
// Errors.

pub(crate) fn scenario_error(error: ScenarioProblem) -> PyErr {
    ScenarioError::new_err(error.to_string())
}

fn simulate_error(error: SimulateError) -> PyErr {
    match error {
        SimulateError::Scenario(problem) => ScenarioError::new_err(problem),
        SimulateError::Config(error) => {
            ConfigError::new_err(SimulateError::Config(error).to_string())
        }
        other => SimulationError::new_err(other.to_string()),
    }
}

fn grid_error(error: GridError) -> PyErr {
    ScenarioError::new_err(error.to_string())
}

pub(crate) fn refused_error(
    py: Python<'_>,
    refusal: &coldstart::Refusal,
    events: &[Event],
) -> PyErr {
    let error = Refused::new_err(refusal.to_string());
    let attached = (|| -> PyResult<()> {
        let mut map = Map::new();
        flatten_into(&mut map, "kind", json(refusal)?);
        let value = error.value(py);
        value.setattr("refusal", ordered(py, &Value::Object(map), &["kind"])?)?;
        value.setattr("events", events_list(py, events)?)?;
        Ok(())
    })();
    match attached {
        Ok(()) => error,
        Err(other) => other,
    }
}

// ---------------------------------------------------------------------------
// Scenarios.

/// A scenario from a path, a dict shaped like the file, or the default;
/// `set` overrides applied in order, then the seed (as `simulate --set …
/// --seed N`).
pub(crate) fn load_scenario(
    source: Option<&Bound<'_, PyAny>>,
    sets: &[String],
    seed: Option<u64>,
) -> PyResult<Scenario> {
    let Some(source) = source.filter(|source| !source.is_none()) else {
        return scenario::default_seeded(sets, seed).map_err(scenario_error);
    };
    if source.cast::<PyDict>().is_ok() {
        let value = from_py(source).map_err(|error| ScenarioError::new_err(error.to_string()))?;
        let toml::Value::Table(mut table) = toml_of(&value, "").map_err(scenario_error)? else {
            unreachable!("a dict is a table");
        };
        for argument in sets {
            scenario::apply_set(&mut table, argument).map_err(scenario_error)?;
        }
        return scenario::from_table(table, "dict", Path::new("."), seed).map_err(scenario_error);
    }
    let path: PathBuf = source.extract().map_err(|_| {
        ScenarioError::new_err(
            "a scenario is a path (str or os.PathLike), a dict shaped like the file, or None",
        )
    })?;
    scenario::load_seeded(&path, sets, seed)
        .map_err(|error| ScenarioError::new_err(format!("{}: {error}", path.display())))
}

/// `set=` as the CLI's repeated `--set`, then `invocations=` (as
/// `--invocations`).
fn sets_of(set: Option<Vec<String>>, invocations: Option<u64>) -> Vec<String> {
    let mut sets = set.unwrap_or_default();
    if let Some(invocations) = invocations {
        sets.push(format!("workload.invocations={invocations}"));
    }
    sets
}

pub(crate) fn fields_dict<'py>(
    py: Python<'py>,
    fields: &[(String, Value)],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in fields {
        dict.set_item(key, to_py(py, value)?)?;
    }
    Ok(dict)
}

pub(crate) fn slots_total(config: &Config) -> u64 {
    config.hosts.iter().map(|host| u64::from(host.slots)).sum()
}

// ---------------------------------------------------------------------------
// The whole-run API.

/// Runs a scenario to the end and returns its report: the keys and values
/// `coldstart simulate --json` prints, in order.
#[pyfunction]
#[pyo3(signature = (scenario=None, *, set=None, seed=None, invocations=None, check=false))]
// The library's SimulateError comes back once per run: its size is no cost.
#[allow(clippy::result_large_err)]
fn simulate<'py>(
    py: Python<'py>,
    scenario: Option<&Bound<'py, PyAny>>,
    set: Option<Vec<String>>,
    seed: Option<u64>,
    invocations: Option<u64>,
    check: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let path = scenario.and_then(|source| source.extract::<PathBuf>().ok());
    let scenario = load_scenario(scenario, &sets_of(set, invocations), seed)?;
    let fields = py
        .detach(|| compare::run_scenario(&scenario, check))
        .map_err(|error| match (error, &path) {
            // A trace's bad line, after the scenario's path (as the CLI).
            (SimulateError::Scenario(problem), Some(path)) => {
                ScenarioError::new_err(format!("{}: {problem}", path.display()))
            }
            (error, _) => simulate_error(error),
        })?;
    fields_dict(py, &fields)
}

/// Runs a scenario to the end and returns one dict per function: what the
/// HTML report's per-function table holds (invocations, starts, endings,
/// cost, end-to-end percentiles), in registration order.
#[pyfunction]
#[pyo3(signature = (scenario=None, *, set=None, seed=None, invocations=None))]
fn function_figures<'py>(
    py: Python<'py>,
    scenario: Option<&Bound<'py, PyAny>>,
    set: Option<Vec<String>>,
    seed: Option<u64>,
    invocations: Option<u64>,
) -> PyResult<Bound<'py, PyList>> {
    let path = scenario.and_then(|source| source.extract::<PathBuf>().ok());
    let scenario = load_scenario(scenario, &sets_of(set, invocations), seed)?;
    let functions = py
        .detach(|| per_function(&scenario))
        .map_err(|problem| match &path {
            Some(path) => ScenarioError::new_err(format!("{}: {problem}", path.display())),
            None => SimulationError::new_err(problem),
        })?;
    let rows = PyList::empty(py);
    for stats in &functions {
        let row = PyDict::new(py);
        row.set_item("function", stats.function.map(|id| id.to_bits()))?;
        row.set_item("memory_bytes", stats.memory_bytes)?;
        row.set_item("invocations", stats.invocations)?;
        row.set_item("cold_starts", stats.cold_starts)?;
        row.set_item("warm_starts", stats.warm_starts)?;
        let started = stats.cold_starts + stats.warm_starts;
        let ratio = (started > 0).then(|| stats.cold_starts as f64 / started as f64);
        row.set_item("cold_start_ratio", ratio)?;
        row.set_item("completed", stats.completed)?;
        row.set_item("failed", stats.failed)?;
        row.set_item("platform_failed", stats.platform_failed)?;
        row.set_item("timed_out", stats.timed_out)?;
        row.set_item("rejected", stats.rejected)?;
        row.set_item("cost_picodollars", stats.cost_picodollars)?;
        row.set_item("end_to_end_us_p50", stats.end_to_end_us.percentile(500))?;
        row.set_item("end_to_end_us_p99", stats.end_to_end_us.percentile(990))?;
        rows.append(row)?;
    }
    Ok(rows)
}

/// One run of `scenario` with the HTML report's collector watching it.
fn per_function(scenario: &Scenario) -> Result<Vec<coldstart::html::FunctionStats>, String> {
    let mut collector = coldstart::html::Collector::new(&scenario.config);
    collector.learn_functions(scenario.inputs()?);
    let simulation = coldstart::simulate::simulate_scenario_with(
        scenario,
        coldstart::simulate::SimulateOptions::default(),
        None::<(std::io::Sink, log::LogFormat)>,
        |event| collector.observe(event),
    )
    .map_err(|error| error.to_string())?;
    collector.finish(simulation.report.end_us);
    Ok(collector.functions().to_vec())
}

/// Runs a grid (as `coldstart compare`) and returns one dict per
/// combination, as `coldstart compare --json` prints them.
#[pyfunction]
#[pyo3(signature = (scenario=None, *, policy=None, set=None, seeds=5, seed=None, invocations=None, threads=None, check=false))]
#[allow(clippy::too_many_arguments)]
fn compare_rows<'py>(
    py: Python<'py>,
    scenario: Option<PathBuf>,
    policy: Option<Vec<String>>,
    set: Option<Vec<String>>,
    seeds: u64,
    seed: Option<u64>,
    invocations: Option<u64>,
    threads: Option<usize>,
    check: bool,
) -> PyResult<Bound<'py, PyList>> {
    let fixed = sets_of(None, invocations);
    let mut varied: Vec<GridArgument> = policy
        .unwrap_or_default()
        .into_iter()
        .map(GridArgument::Policy)
        .collect();
    varied.extend(set.unwrap_or_default().into_iter().map(GridArgument::Set));
    let grid =
        Grid::new(scenario.as_deref(), &fixed, &varied, seed, seeds).map_err(|error| {
            match (&error, &scenario) {
                (GridError::Scenario(_), Some(path)) => {
                    ScenarioError::new_err(format!("{}: {error}", path.display()))
                }
                _ => grid_error(error),
            }
        })?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let text = py
        .detach(|| {
            compare::run_grid(&grid, check, threads).map(|runs| {
                let rows = compare::summarize_runs(&grid.header, &runs);
                compare::render_json(&grid.header, &rows)
            })
        })
        .map_err(|failure| SimulationError::new_err(failure.to_string()))?;
    let list = PyList::empty(py);
    for line in text.lines() {
        let value: Value =
            serde_json::from_str(line).map_err(|error| Error::new_err(error.to_string()))?;
        list.append(to_py(py, &value)?)?;
    }
    Ok(list)
}

/// Replays a command log (binary or JSON Lines) and returns its report, as
/// `coldstart replay --json` prints it. A log recorded with a policy
/// written in Python is replayed by `policy`, which must have the identity
/// the log names.
#[pyfunction]
#[pyo3(signature = (path, *, verify=false, check=false, policy=None))]
fn replay<'py>(
    py: Python<'py>,
    path: PathBuf,
    verify: bool,
    check: bool,
    policy: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let file_error = |problem: String| LogError::new_err(format!("{}: {problem}", path.display()));
    let policy = match policy.filter(|policy| !policy.is_none()) {
        Some(object) => Some(policy::PythonPolicy::new(object)?),
        None => None,
    };
    let failure = policy.as_ref().map(|policy| policy.failure().clone());
    let options = DriverOptions::default().with_check_invariants(check);
    let result = py.detach(|| -> Result<Vec<(String, Value)>, String> {
        let reader = LogReader::open(&path).map_err(|error| error.to_string())?;
        let mut latencies = Latencies::new();
        let observe = |event: &Event| latencies.observe(event);
        let fields = match policy {
            Some(policy) => {
                let replayed = log::replay_with(reader, policy, options, None, verify, observe)
                    .map_err(|error: RunError| error.to_string())?;
                replay_fields(&replayed, &mut latencies)
            }
            None => {
                let replayed =
                    log::replay(reader, options, None, verify, observe).map_err(|error| {
                        match error {
                            // The Rust way out, then Python's.
                            RunError::Log(log::LogError::PolicyNeeded { .. }) => {
                                format!("{error} (from Python: coldstart.replay(log, policy=…))")
                            }
                            other => other.to_string(),
                        }
                    })?;
                replay_fields(&replayed, &mut latencies)
            }
        };
        Ok(fields)
    });
    if let Some(error) = failure.as_ref().and_then(policy::take_failure) {
        return Err(error);
    }
    fields_dict(py, &result.map_err(file_error)?)
}

/// A replay's report, as `coldstart replay --json` prints it.
fn replay_fields<P: coldstart::Policies>(
    replayed: &log::Replayed<P>,
    latencies: &mut Latencies,
) -> Vec<(String, Value)> {
    let driver = &replayed.driver;
    let run = driver.report_so_far();
    report::fields(
        driver.provider().metrics(),
        &run,
        slots_total(&replayed.header.config),
        latencies,
    )
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect()
}

/// The report's keys, in order (README, "The report").
#[pyfunction]
fn report_keys() -> Vec<&'static str> {
    report::keys()
}

// ---------------------------------------------------------------------------
// The step API.

/// A provider, stepped one input at a time (`coldstart::Provider` with the
/// built-in policies or a policy written in Python).
#[pyclass(module = "coldstart._native", name = "Provider")]
#[derive(Clone)]
pub(crate) struct PyProvider {
    inner: coldstart::Provider<Policy>,
    /// Why the provider stopped: its Python policy failed during a step,
    /// which core finished with the trait's defaults in the failed hooks'
    /// place, so what follows would not be the policy's run.
    stopped: Option<String>,
}

impl PyProvider {
    pub(crate) fn of(inner: coldstart::Provider<Policy>) -> PyProvider {
        PyProvider {
            inner,
            stopped: None,
        }
    }

    fn running(&self) -> PyResult<()> {
        match &self.stopped {
            Some(why) => Err(PolicyError::new_err(format!(
                "the provider is stopped: {why} (restore a snapshot taken before)"
            ))),
            None => Ok(()),
        }
    }

    /// `result`, unless the policy failed on the way: then the provider
    /// stops and the failure is raised.
    fn settle<T>(&mut self, py: Python<'_>, result: PyResult<T>) -> PyResult<T> {
        match self.inner.policies().take_failure() {
            Some(failure) => {
                self.stopped = Some(policy::one_line(py, &failure));
                Err(failure)
            }
            None => result,
        }
    }
}

pub(crate) fn ids_of(invocations: Vec<u64>) -> Vec<InvocationId> {
    invocations.into_iter().map(invocation_of).collect()
}

pub(crate) fn extend_events(
    py: Python<'_>,
    target: Option<&Bound<'_, PyList>>,
    events: &[Event],
) -> PyResult<()> {
    if let Some(target) = target {
        for event in events {
            target.append(event_dict(py, event)?)?;
        }
    }
    Ok(())
}

#[pymethods]
impl PyProvider {
    /// A fresh provider with the configuration and policies of a scenario's
    /// `[provider]` section: a path, a dict shaped like the file, or None
    /// (the default scenario's). Its workload is not run. `policy`, an
    /// object with `select_host(view, request)`, replaces the scenario's
    /// built-in policies.
    #[new]
    #[pyo3(signature = (config=None, *, set=None, seed=None, policy=None))]
    fn new(
        config: Option<&Bound<'_, PyAny>>,
        set: Option<Vec<String>>,
        seed: Option<u64>,
        policy: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyProvider> {
        let scenario = load_scenario(config, &set.unwrap_or_default(), seed)?;
        let policies = Policy::of(policy, scenario.policies)?;
        let inner = coldstart::Provider::new(scenario.config, policies)
            .map_err(|error| ConfigError::new_err(format!("invalid configuration: {error}")))?;
        Ok(PyProvider {
            inner,
            stopped: None,
        })
    }

    /// The policy object given as `policy=` (it is the provider's: its
    /// state is what the run taught it), or None for the built-ins.
    #[getter]
    fn policy(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.inner.policies().object(py)
    }

    /// Applies one input; returns its events. Raises `Refused` (the
    /// provider then is as after an `Advance` to the input's time, unless
    /// the time itself was refused).
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.running()?;
        let input = input_of(input)?;
        let result = match self.inner.apply(&input) {
            Ok(applied) => events_list(py, applied.events()),
            Err(refused) => {
                let refused: RefusedStep = refused;
                Err(refused_error(py, refused.refusal(), refused.events()))
            }
        };
        self.settle(py, result)
    }

    /// Applies inputs in order and returns all their events; stops at the
    /// first refusal (raised as `Refused`, whose `step` is its index and
    /// `events` its own timers' events; the inputs before it stay applied).
    fn apply_all<'py>(
        &mut self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.running()?;
        let list = PyList::empty(py);
        for (index, input) in inputs.try_iter()?.enumerate() {
            let input = input_of(&input?)?;
            let result = match self.inner.apply(&input) {
                Ok(applied) => extend_events(py, Some(&list), applied.events()),
                Err(refused) => {
                    let error = refused_error(py, refused.refusal(), refused.events());
                    error.value(py).setattr("step", index)?;
                    Err(error)
                }
            };
            self.settle(py, result)?;
        }
        Ok(list)
    }

    /// Whether `apply` would refuse the input, judged as `apply` judges it;
    /// raises `Refused` if so, changing nothing.
    fn validate(&self, py: Python<'_>, input: &Bound<'_, PyAny>) -> PyResult<()> {
        let input = input_of(input)?;
        // A due timer makes `validate` try the input on a clone: a failure
        // of the clone's policy is raised, and this provider goes on.
        let result = sharing_failures(|| self.inner.validate(&input));
        if let Some(failure) = self.inner.policies().take_failure() {
            return Err(failure);
        }
        result.map_err(|refusal| refused_error(py, &refusal, &[]))
    }

    /// The state of an invocation (`{"state": "Running", …}`).
    fn get_state<'py>(&self, py: Python<'py>, invocation: u64) -> PyResult<Bound<'py, PyAny>> {
        let state = self
            .inner
            .get_state(invocation_of(invocation))
            .map_err(|error| ClientError::new_err(error.to_string()))?;
        ordered(py, &state_value(&state)?, &["state", "at_us", "outcome"])
    }

    /// The states of several invocations, in order; None for one unknown.
    fn get_states<'py>(
        &self,
        py: Python<'py>,
        invocations: Vec<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for state in self.inner.get_states(&ids_of(invocations)) {
            match state {
                Ok(state) => list.append(ordered(
                    py,
                    &state_value(&state)?,
                    &["state", "at_us", "outcome"],
                )?)?,
                Err(_) => list.append(py.None())?,
            }
        }
        Ok(list)
    }

    /// The output of a completed invocation.
    fn get_output(&self, invocation: u64) -> PyResult<u64> {
        self.inner
            .get_output(invocation_of(invocation))
            .map_err(|error| ClientError::new_err(error.to_string()))
    }

    /// Lets virtual time run, timer by timer, until the invocation ends (or
    /// the deadline, in µs); returns how it ended. The events on the way are
    /// appended to `events` if given.
    #[pyo3(signature = (invocation, deadline_us=None, events=None))]
    fn wait_for<'py>(
        &mut self,
        py: Python<'py>,
        invocation: u64,
        deadline_us: Option<u64>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.running()?;
        let inner = &mut self.inner;
        let (result, seen) = py.detach(|| {
            let mut seen = Vec::new();
            let result = inner.wait_for(invocation_of(invocation), deadline_us, &mut seen);
            (result, seen)
        });
        extend_events(py, events, &seen)?;
        let finished = self.settle(
            py,
            result.map_err(|error| WaitError::new_err(error.to_string())),
        )?;
        ordered(py, &finished_value(&finished)?, FINISHED_FIRST)
    }

    /// Waits until every invocation has ended; returns their endings in the
    /// order given.
    #[pyo3(signature = (invocations, deadline_us=None, events=None))]
    fn wait_for_all<'py>(
        &mut self,
        py: Python<'py>,
        invocations: Vec<u64>,
        deadline_us: Option<u64>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ids = ids_of(invocations);
        self.running()?;
        let inner = &mut self.inner;
        let (result, seen) = py.detach(|| {
            let mut seen = Vec::new();
            let result = inner.wait_for_all(&ids, deadline_us, &mut seen);
            (result, seen)
        });
        extend_events(py, events, &seen)?;
        let finished = self.settle(
            py,
            result.map_err(|error| WaitError::new_err(error.to_string())),
        )?;
        let list = PyList::empty(py);
        for one in &finished {
            list.append(ordered(py, &finished_value(one)?, FINISHED_FIRST)?)?;
        }
        Ok(list)
    }

    /// Waits until any of the invocations has ended; returns the first to
    /// end.
    #[pyo3(signature = (invocations, deadline_us=None, events=None))]
    fn wait_for_any<'py>(
        &mut self,
        py: Python<'py>,
        invocations: Vec<u64>,
        deadline_us: Option<u64>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = ids_of(invocations);
        self.running()?;
        let inner = &mut self.inner;
        let (result, seen) = py.detach(|| {
            let mut seen = Vec::new();
            let result = inner.wait_for_any(&ids, deadline_us, &mut seen);
            (result, seen)
        });
        extend_events(py, events, &seen)?;
        let finished = self.settle(
            py,
            result.map_err(|error| WaitError::new_err(error.to_string())),
        )?;
        ordered(py, &finished_value(&finished)?, FINISHED_FIRST)
    }

    /// Checks every invariant; raises `InvariantViolation` with the first
    /// one broken.
    fn check_invariants(&self) -> PyResult<()> {
        self.inner
            .check_invariants()
            .map_err(|violation| InvariantViolation::new_err(violation.to_string()))
    }

    /// The counters and time integrals (core's `Metrics`), as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &json(self.inner.metrics())?)
    }

    /// The configuration, in its serde form.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &json(self.inner.config())?)
    }

    /// The queued invocations, first in line first.
    fn queue(&self) -> Vec<u64> {
        self.inner.queue().map(InvocationId::to_bits).collect()
    }

    /// The provider's virtual time, µs.
    #[getter]
    fn now_us(&self) -> u64 {
        self.inner.now_us()
    }

    /// When the next timer is due (µs), or None.
    #[getter]
    fn next_timer_us(&self) -> Option<u64> {
        self.inner.next_timer_us()
    }

    /// The whole state as bytes (for this version of coldstart only):
    /// `Provider.restore(bytes)` continues exactly where this one is.
    /// A Python policy is pickled into it.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.running()?;
        // JSON: the library's binary codec caps what it allocates at the
        // size of a log record, which a provider's state outgrows.
        let bytes = serde_json::to_vec(&self.inner)
            .map_err(|error| SnapshotError::new_err(error.to_string()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A provider from `snapshot()`'s bytes; its invariants are checked.
    #[staticmethod]
    fn restore(snapshot: &[u8]) -> PyResult<PyProvider> {
        restore_provider(snapshot)
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let restore = py.import("coldstart._native")?.getattr("_restore")?;
        let args = PyTuple::new(py, [self.snapshot(py)?])?;
        PyTuple::new(py, [restore, args.into_any()])
    }

    fn __copy__(&self) -> PyProvider {
        self.clone()
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> PyProvider {
        self.clone()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.extract::<PyRef<'_, PyProvider>>() {
            Ok(other) => self.inner == other.inner,
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        let policy = match self.inner.policies() {
            Policy::Builtin(_) => String::new(),
            Policy::Python(policy) => format!(", policy {:?}", policy),
        };
        format!(
            "<coldstart.Provider at {} µs: {} hosts, {} accepted{policy}>",
            self.inner.now_us(),
            self.inner.config().hosts.len(),
            self.inner.metrics().accepted
        )
    }
}

pub(crate) fn restore_provider(snapshot: &[u8]) -> PyResult<PyProvider> {
    let inner: coldstart::Provider<Policy> = serde_json::from_slice(snapshot)
        .map_err(|error| SnapshotError::new_err(format!("not a snapshot: {error}")))?;
    inner.config().validate().map_err(|error| {
        SnapshotError::new_err(format!("not a snapshot: invalid configuration: {error}"))
    })?;
    inner
        .check_invariants()
        .map_err(|violation| SnapshotError::new_err(format!("not a snapshot: {violation}")))?;
    Ok(PyProvider {
        inner,
        stopped: None,
    })
}

/// Unpickles a provider (what `Provider.__reduce__` names).
#[pyfunction]
fn _restore(snapshot: &[u8]) -> PyResult<PyProvider> {
    restore_provider(snapshot)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ScenarioError", py.get_type::<ScenarioError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("SimulationError", py.get_type::<SimulationError>())?;
    m.add("LogError", py.get_type::<LogError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("Refused", py.get_type::<Refused>())?;
    m.add("ClientError", py.get_type::<ClientError>())?;
    m.add("WaitError", py.get_type::<WaitError>())?;
    m.add("InvariantViolation", py.get_type::<InvariantViolation>())?;
    m.add("SnapshotError", py.get_type::<SnapshotError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("HarnessError", py.get_type::<HarnessError>())?;
    m.add("PolicyFinding", py.get_type::<PolicyFinding>())?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(function_figures, m)?)?;
    m.add_function(wrap_pyfunction!(compare_rows, m)?)?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(report_keys, m)?)?;
    m.add_function(wrap_pyfunction!(_restore, m)?)?;
    m.add_class::<PyProvider>()?;
    m.add_class::<recorder::PyRecorder>()?;
    m.add_class::<harness::PyFinding>()?;
    m.add_function(wrap_pyfunction!(harness::check_policy, m)?)?;
    m.add_function(wrap_pyfunction!(harness::fuzz_policy, m)?)?;
    m.add_function(wrap_pyfunction!(harness::check_inputs, m)?)?;
    policy::add_classes(m)?;
    m.add("COLDSTART_VERSION", log::COLDSTART_VERSION)?;
    Ok(())
}
