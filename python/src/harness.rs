//! The policy harness (`coldstart::harness`) on a policy written in
//! Python: `check_policy` (cases drawn by a seeded proptest runner),
//! `fuzz_policy` (a case from bytes) and `check_inputs` (fixed inputs, a
//! regression test). A problem is raised as `PolicyFinding`, whose
//! `finding` is a `Finding`.

use crate::policy::{self, sharing_failures, Policy, PythonPolicy};
use crate::{
    flatten_into, from_py, input_of, json, load_scenario, ordered, to_py, ConfigError,
    HarnessError, LogError, PolicyFinding, PyProvider,
};
use coldstart::harness::{
    self as rust, Finding, HarnessError as RustHarnessError, HarnessOptions, Scale,
};
use coldstart::log::LogFormat;
use coldstart::{Config, Input};
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// A problem the harness found, and how to reproduce it: a provider of
/// `config` running the policy, given `inputs` in order.
#[pyclass(module = "coldstart._native", name = "Finding", frozen)]
pub(crate) struct PyFinding {
    finding: Finding,
}

/// An input in the flat form `Provider.apply` takes and the helpers make:
/// a function's optional fields at their defaults (no start costs of its
/// own, concurrency 1, no warm floor) are left out, as the helpers leave them out, so the
/// inputs a user gave come back equal.
fn input_dict<'py>(py: Python<'py>, input: &Input) -> PyResult<Bound<'py, PyAny>> {
    let Value::Object(map) = json(input)? else {
        return Err(crate::Error::new_err("an input is not an object"));
    };
    let mut out = Map::new();
    for (key, value) in map {
        if key == "command" {
            flatten_into(&mut out, "command", value);
        } else {
            out.insert(key, value);
        }
    }
    if out.get("command").and_then(Value::as_str) == Some("RegisterFunction") {
        for optional in ["cold_start_us", "warm_start_us"] {
            if out.get(optional) == Some(&Value::Null) {
                out.remove(optional);
            }
        }
        if out.get("concurrency").and_then(Value::as_u64) == Some(1) {
            out.remove("concurrency");
        }
        if out.get("min_scale").and_then(Value::as_u64) == Some(0) {
            out.remove("min_scale");
        }
    }
    ordered(py, &Value::Object(out), &["at_us", "command"])
}

#[pymethods]
impl PyFinding {
    /// The problem, in one line (`refused decision: host#7 for inv#0.0: no such host`).
    #[getter]
    fn problem(&self) -> String {
        self.finding.problem.to_string()
    }

    /// The kind of problem: "invariant broken", "refused decision",
    /// "starvation", "nondeterminism" or "timers never run out".
    #[getter]
    fn kind(&self) -> &'static str {
        self.finding.problem.kind_name()
    }

    /// The problem's fields (`{"DecisionRefused": {"host": 7, …}}`).
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &json(&self.finding.problem)?)
    }

    /// The configuration the case ran on, in the form `Provider.config()`
    /// gives (and `check_inputs` takes).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &json(&self.finding.config)?)
    }

    /// The inputs that show the problem, shrunk, as `Provider.apply`
    /// takes them.
    #[getter]
    fn inputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for input in &self.finding.inputs {
            list.append(input_dict(py, input)?)?;
        }
        Ok(list)
    }

    /// The starvation bound the finding was made with.
    #[getter]
    fn starvation_bound_us(&self) -> u64 {
        self.finding.starvation_bound_us
    }

    /// The drain bound the finding was made with.
    #[getter]
    fn drain_steps_max(&self) -> usize {
        self.finding.drain_steps_max
    }

    /// The finding as JSON, to keep or send; `Finding.from_json` reads it.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.finding)
            .map_err(|error| crate::Error::new_err(error.to_string()))
    }

    #[staticmethod]
    fn from_json(text: &str) -> PyResult<PyFinding> {
        let finding = serde_json::from_str(text)
            .map_err(|error| crate::Error::new_err(format!("not a finding: {error}")))?;
        Ok(PyFinding { finding })
    }

    /// Checks `policy` on this finding's configuration and inputs, with
    /// the bounds it was made with (`check_inputs`): raises
    /// `PolicyFinding` while the problem is there.
    fn check(&self, py: Python<'_>, policy: &Bound<'_, PyAny>) -> PyResult<()> {
        let options = HarnessOptions::default()
            .with_starvation_bound_us(self.finding.starvation_bound_us)
            .with_drain_steps_max(self.finding.drain_steps_max);
        let config = self.finding.config.clone();
        let inputs = self.finding.inputs.clone();
        run_harness(py, policy, move |policy| {
            rust::check_inputs(policy, &config, &inputs, &options)
        })
    }

    /// A fresh provider of the finding's configuration run by `policy`, to
    /// apply the inputs to one by one.
    fn provider(&self, policy: &Bound<'_, PyAny>) -> PyResult<PyProvider> {
        let policy = Policy::Python(PythonPolicy::new(policy)?);
        coldstart::Provider::new(self.finding.config.clone(), policy)
            .map(PyProvider::of)
            .map_err(|error| ConfigError::new_err(format!("invalid configuration: {error}")))
    }

    /// A pytest test that checks `policy` (a Python expression, such as
    /// `MyPolicy()`) on this finding: it fails while the problem is there.
    fn regression_test(&self, test_name: &str, policy: &str) -> PyResult<String> {
        let text = self.to_json()?;
        let problem = self.problem().replace('\n', " ");
        Ok(format!(
            "def {test_name}():\n    \
                 \"\"\"Found by the coldstart policy harness: {problem}\"\"\"\n    \
                 finding = coldstart.Finding.from_json({text:?})\n    \
                 finding.check({policy})\n"
        ))
    }

    /// Writes the finding's inputs, run by `policy`, as a command log at
    /// `path` (`.cslog` or `.jsonl`), to replay with
    /// `coldstart.replay(path, verify=True, policy=…)`.
    fn record(&self, py: Python<'_>, path: PathBuf, policy: &Bound<'_, PyAny>) -> PyResult<()> {
        let file_error =
            |problem: String| LogError::new_err(format!("{}: {problem}", path.display()));
        let format = LogFormat::from_path(&path).map_err(|error| file_error(error.to_string()))?;
        let file = File::create(&path).map_err(|error| file_error(error.to_string()))?;
        let policy = PythonPolicy::new(policy)?;
        let failure = policy.failure().clone();
        let written = py.detach(|| self.finding.record(&policy, BufWriter::new(file), format));
        if let Some(error) = policy::take_failure(&failure) {
            return Err(error);
        }
        written
            .map_err(|error| file_error(error.to_string()))?
            .into_inner()
            .map_err(|error| file_error(error.to_string()))?;
        Ok(())
    }

    fn __str__(&self) -> String {
        self.finding.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<coldstart.Finding: {} ({} inputs)>",
            self.problem(),
            self.finding.inputs.len()
        )
    }
}

/// A configuration: the form `Provider.config()` gives (a dict with
/// `hosts`), or a scenario (a path, or a dict shaped like the file) whose
/// provider configuration is taken.
fn config_of(config: &Bound<'_, PyAny>) -> PyResult<Config> {
    if let Ok(dict) = config.cast::<PyDict>() {
        if dict.contains("hosts")? {
            return serde_json::from_value(from_py(config)?)
                .map_err(|error| ConfigError::new_err(format!("not a configuration: {error}")));
        }
    }
    Ok(load_scenario(Some(config), &[], None)?.config)
}

/// Harness options from keyword arguments (None: the harness's default).
#[allow(clippy::too_many_arguments)]
fn options_of(
    ops_max: Option<usize>,
    starvation_bound_us: Option<u64>,
    drain_steps_max: Option<usize>,
    shrink_runs_max: Option<usize>,
    config: Option<&Bound<'_, PyAny>>,
    scale: Option<(u64, u64)>,
) -> PyResult<HarnessOptions> {
    let mut options = HarnessOptions::default();
    if let Some(ops_max) = ops_max {
        options = options.with_ops_max(ops_max);
    }
    if let Some(bound_us) = starvation_bound_us {
        options = options.with_starvation_bound_us(bound_us);
    }
    if let Some(drain) = drain_steps_max {
        options = options.with_drain_steps_max(drain);
    }
    if let Some(runs) = shrink_runs_max {
        options = options.with_shrink_runs_max(runs);
    }
    if let Some(config) = config.filter(|config| !config.is_none()) {
        options = options.with_config(config_of(config)?);
    }
    if let Some((unit_bytes, unit_us)) = scale {
        options = options.with_scale(Scale {
            unit_bytes,
            unit_us,
        });
    }
    Ok(options)
}

/// Runs `check` on `policy` with the GIL released (each hook takes it
/// back), then raises what it found: the policy's failure first (a
/// finding after one would be the defaults' doing), then a finding.
fn run_harness(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    check: impl FnOnce(&PythonPolicy) -> Result<(), RustHarnessError> + Send,
) -> PyResult<()> {
    let policy = PythonPolicy::new(policy)?;
    let failure = policy.failure().clone();
    let result = py.detach(|| sharing_failures(|| check(&policy)));
    if let Some(error) = policy::take_failure(&failure) {
        return Err(error);
    }
    match result {
        Ok(()) => Ok(()),
        Err(RustHarnessError::Found(finding)) => {
            let error = PolicyFinding::new_err(finding.problem.to_string());
            let finding = Py::new(py, PyFinding { finding: *finding })?;
            error.value(py).setattr("finding", finding)?;
            Err(error)
        }
        Err(RustHarnessError::Config(error)) => Err(ConfigError::new_err(
            RustHarnessError::Config(error).to_string(),
        )),
        Err(other) => Err(HarnessError::new_err(other.to_string())),
    }
}

/// A deterministic proptest runner of `cases` cases from `seed`, which
/// writes no regression files.
fn runner(cases: u32, seed: u64) -> TestRunner {
    let config = RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    )
}

/// Checks `policy` on `cases` cases drawn from `seed` (the same seed draws
/// the same cases); raises `PolicyFinding` with the first problem, shrunk.
#[pyfunction]
#[pyo3(signature = (policy, *, cases=64, seed=0, ops_max=None, starvation_bound_us=None, drain_steps_max=None, shrink_runs_max=None, config=None, scale=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_policy(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    cases: u32,
    seed: u64,
    ops_max: Option<usize>,
    starvation_bound_us: Option<u64>,
    drain_steps_max: Option<usize>,
    shrink_runs_max: Option<usize>,
    config: Option<&Bound<'_, PyAny>>,
    scale: Option<(u64, u64)>,
) -> PyResult<()> {
    let options = options_of(
        ops_max,
        starvation_bound_us,
        drain_steps_max,
        shrink_runs_max,
        config,
        scale,
    )?;
    let mut runner = runner(cases, seed);
    run_harness(py, policy, move |policy| {
        rust::proptest_policy(policy, &mut runner, &options)
    })
}

/// Checks `policy` on the case that `data` describes (any bytes make one:
/// feed it from a fuzzer such as atheris); raises `PolicyFinding`.
#[pyfunction]
#[pyo3(signature = (policy, data, *, ops_max=None, starvation_bound_us=None, drain_steps_max=None, shrink_runs_max=None, config=None, scale=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn fuzz_policy(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    data: Vec<u8>,
    ops_max: Option<usize>,
    starvation_bound_us: Option<u64>,
    drain_steps_max: Option<usize>,
    shrink_runs_max: Option<usize>,
    config: Option<&Bound<'_, PyAny>>,
    scale: Option<(u64, u64)>,
) -> PyResult<()> {
    let options = options_of(
        ops_max,
        starvation_bound_us,
        drain_steps_max,
        shrink_runs_max,
        config,
        scale,
    )?;
    run_harness(py, policy, move |policy| {
        rust::fuzz_policy(policy, &data, &options)
    })
}

/// Checks `policy` on fixed inputs from a configuration (the form
/// `Provider.config()` gives, or a scenario), twice for determinism, with
/// the timers drained after; raises `PolicyFinding` (not shrunk).
#[pyfunction]
#[pyo3(signature = (policy, config, inputs, *, starvation_bound_us=None, drain_steps_max=None))]
pub(crate) fn check_inputs(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    config: &Bound<'_, PyAny>,
    inputs: &Bound<'_, PyAny>,
    starvation_bound_us: Option<u64>,
    drain_steps_max: Option<usize>,
) -> PyResult<()> {
    let config = config_of(config)?;
    let inputs = inputs
        .try_iter()?
        .map(|input| input_of(&input?))
        .collect::<PyResult<Vec<Input>>>()?;
    let options = options_of(None, starvation_bound_us, drain_steps_max, None, None, None)?;
    run_harness(py, policy, move |policy| {
        rust::check_inputs(policy, &config, &inputs, &options)
    })
}
