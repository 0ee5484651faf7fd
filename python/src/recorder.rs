//! `Recorder`: a provider stepped from Python that writes a command log of
//! what it ran (`coldstart::log::Recorder`), which `coldstart replay LOG
//! --verify` (built-in policies) or `coldstart.replay(LOG, verify=True,
//! policy=…)` (a policy written in Python) runs again, step check by step
//! check.

use crate::policy::Policy;
use crate::{
    events_list, extend_events, finished_value, ids_of, input_of, invocation_of, load_scenario,
    ordered, refused_error, state_value, ClientError, Error, InvariantViolation, LogError,
    PolicyError, PyProvider, SimulationError, WaitError, FINISHED_FIRST,
};
use coldstart::driver::{DriveError, DriverOptions};
use coldstart::log::{LogFormat, Recorder, RunError};
use coldstart::Event;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

type Inner = Recorder<BufWriter<File>, Policy>;

/// A provider that records a command log as it goes: each input applied
/// and each wait (as the `Advance` it amounts to), each step's check, and,
/// at `finish()`, the trailer (step and event counts, events digest).
#[pyclass(module = "coldstart._native", name = "Recorder")]
pub(crate) struct PyRecorder {
    /// None once finished.
    inner: Option<Inner>,
    /// The provider as `finish()` left it, for reads.
    finished: Option<coldstart::Provider<Policy>>,
    path: PathBuf,
    /// As `Provider`'s: why it stopped (its Python policy failed).
    stopped: Option<String>,
}

impl PyRecorder {
    fn live(&mut self) -> PyResult<&mut Inner> {
        if let Some(why) = &self.stopped {
            return Err(PolicyError::new_err(format!(
                "the recorder is stopped: {why} (finish() still writes the log so far)"
            )));
        }
        self.reading()
    }

    fn reading(&mut self) -> PyResult<&mut Inner> {
        let path = self.path.display();
        self.inner
            .as_mut()
            .ok_or_else(|| Error::new_err(format!("{path}: the recorder is finished")))
    }

    /// The provider, recording or finished.
    fn current(&self) -> PyResult<&coldstart::Provider<Policy>> {
        match (&self.inner, &self.finished) {
            (Some(inner), _) => Ok(inner.driver().provider()),
            (None, Some(provider)) => Ok(provider),
            (None, None) => Err(LogError::new_err(format!(
                "{}: the recorder failed to finish",
                self.path.display()
            ))),
        }
    }

    /// `result`, unless the policy failed on the way (then the recorder
    /// stops and raises it).
    fn settle<T>(&mut self, py: Python<'_>, result: PyResult<T>) -> PyResult<T> {
        let failure = self
            .inner
            .as_ref()
            .and_then(|inner| inner.driver().provider().policies().take_failure());
        match failure {
            Some(failure) => {
                self.stopped = Some(crate::policy::one_line(py, &failure));
                Err(failure)
            }
            None => result,
        }
    }

    /// A step's error as the exception `Provider` raises for it; a write
    /// that failed is a `LogError` naming the file.
    fn error(&self, py: Python<'_>, error: RunError, events: &[Event]) -> PyErr {
        match error {
            RunError::Drive(DriveError::Refused { refusal, .. }) => {
                refused_error(py, &refusal, events)
            }
            RunError::Drive(DriveError::Wait { error, .. }) => {
                WaitError::new_err(error.to_string())
            }
            RunError::Drive(DriveError::Invariant { violation, .. }) => {
                InvariantViolation::new_err(violation.to_string())
            }
            RunError::Drive(other) => SimulationError::new_err(other.to_string()),
            RunError::Log(error) => LogError::new_err(format!("{}: {error}", self.path.display())),
            RunError::Mismatch(message) => LogError::new_err(message),
            other => SimulationError::new_err(other.to_string()),
        }
    }

    /// The events of the step just taken, if a step was taken since
    /// `steps_before` (a refused input or a wait that did nothing is none).
    fn step_events(&self, steps_before: u64) -> Vec<Event> {
        match &self.inner {
            Some(inner) if inner.driver().steps() > steps_before => {
                inner.driver().last_events().to_vec()
            }
            _ => Vec::new(),
        }
    }

    fn steps(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.driver().steps())
    }

    /// Runs a wait through the recorder: its events into `events`, its
    /// result or the error it raises.
    fn wait<'py, T>(
        &mut self,
        py: Python<'py>,
        events: Option<&Bound<'py, PyList>>,
        wait: impl FnOnce(&mut Inner) -> Result<T, RunError> + Send,
    ) -> PyResult<T>
    where
        T: Send,
    {
        let before = self.steps();
        let inner = self.live()?;
        let result = py.detach(|| wait(inner));
        let seen = self.step_events(before);
        extend_events(py, events, &seen)?;
        let result = result.map_err(|error| self.error(py, error, &seen));
        self.settle(py, result)
    }
}

#[pymethods]
impl PyRecorder {
    /// Starts a log at `path` (`.cslog`: binary; `.jsonl`: JSON Lines) of
    /// a fresh provider, made as `Provider(config, set=, seed=, policy=)`
    /// makes it. With `check`, every invariant is checked after every
    /// step.
    #[new]
    #[pyo3(signature = (path, config=None, *, set=None, seed=None, policy=None, check=false))]
    fn new(
        path: PathBuf,
        config: Option<&Bound<'_, PyAny>>,
        set: Option<Vec<String>>,
        seed: Option<u64>,
        policy: Option<&Bound<'_, PyAny>>,
        check: bool,
    ) -> PyResult<PyRecorder> {
        let scenario = load_scenario(config, &set.unwrap_or_default(), seed)?;
        let policies = Policy::of(policy, scenario.policies)?;
        let file_error =
            |problem: String| LogError::new_err(format!("{}: {problem}", path.display()));
        let format = LogFormat::from_path(&path).map_err(|error| file_error(error.to_string()))?;
        let file = File::create(&path).map_err(|error| file_error(error.to_string()))?;
        let options = DriverOptions::default().with_check_invariants(check);
        let inner = Recorder::new(
            BufWriter::new(file),
            format,
            scenario.config,
            policies,
            options,
        )
        .map_err(|error| match error {
            RunError::Log(coldstart::log::LogError::Config(error)) => {
                crate::ConfigError::new_err(format!("invalid configuration: {error}"))
            }
            other => file_error(other.to_string()),
        })?;
        Ok(PyRecorder {
            inner: Some(inner),
            finished: None,
            path,
            stopped: None,
        })
    }

    /// Applies one input and logs it; returns its events. Raises as
    /// `Provider.apply` does; a refused input whose time fired timers is
    /// logged as the `Advance` to its time.
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let input = input_of(input)?;
        let before = self.steps();
        let inner = self.live()?;
        let applied = match inner.apply(&input) {
            Ok(events) => Ok(events_list(py, events)),
            Err(error) => Err(error),
        };
        let result = match applied {
            Ok(events) => events,
            Err(error) => {
                let seen = self.step_events(before);
                Err(self.error(py, error, &seen))
            }
        };
        self.settle(py, result)
    }

    /// Applies inputs in order; stops at the first refusal (its `step` is
    /// the input's index), as `Provider.apply_all`.
    fn apply_all<'py>(
        &mut self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (index, input) in inputs.try_iter()?.enumerate() {
            let events = self.apply(py, &input?).inspect_err(|error| {
                if error.is_instance_of::<crate::Refused>(py) {
                    let _ = error.value(py).setattr("step", index);
                }
            })?;
            for event in events.iter() {
                list.append(event)?;
            }
        }
        Ok(list)
    }

    /// As `Provider.wait_for`; the wait is logged as an `Advance`.
    #[pyo3(signature = (invocation, deadline_us=None, events=None))]
    fn wait_for<'py>(
        &mut self,
        py: Python<'py>,
        invocation: u64,
        deadline_us: Option<u64>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let finished = self.wait(py, events, |inner| {
            inner.wait_for(invocation_of(invocation), deadline_us)
        })?;
        ordered(py, &finished_value(&finished)?, FINISHED_FIRST)
    }

    /// As `Provider.wait_for_all`; the wait is logged as an `Advance`.
    #[pyo3(signature = (invocations, deadline_us=None, events=None))]
    fn wait_for_all<'py>(
        &mut self,
        py: Python<'py>,
        invocations: Vec<u64>,
        deadline_us: Option<u64>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ids = ids_of(invocations);
        let finished = self.wait(py, events, |inner| inner.wait_for_all(&ids, deadline_us))?;
        let list = PyList::empty(py);
        for one in &finished {
            list.append(ordered(py, &finished_value(one)?, FINISHED_FIRST)?)?;
        }
        Ok(list)
    }

    /// As `Provider.wait_for_any`; the wait is logged as an `Advance`.
    #[pyo3(signature = (invocations, deadline_us=None, events=None))]
    fn wait_for_any<'py>(
        &mut self,
        py: Python<'py>,
        invocations: Vec<u64>,
        deadline_us: Option<u64>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = ids_of(invocations);
        let finished = self.wait(py, events, |inner| inner.wait_for_any(&ids, deadline_us))?;
        ordered(py, &finished_value(&finished)?, FINISHED_FIRST)
    }

    /// Advances to each next timer until none is left, logging each
    /// `Advance`; returns how many it took. Events go to `events` if given.
    #[pyo3(signature = (events=None))]
    fn drain<'py>(
        &mut self,
        py: Python<'py>,
        events: Option<&Bound<'py, PyList>>,
    ) -> PyResult<u64> {
        let inner = self.live()?;
        let collect = events.is_some();
        let (result, seen) = py.detach(|| {
            let mut seen = Vec::new();
            let result = inner.drain_with(|event| {
                if collect {
                    seen.push(*event);
                }
            });
            (result, seen)
        });
        extend_events(py, events, &seen)?;
        let result = result.map_err(|error| self.error(py, error, &[]));
        self.settle(py, result)
    }

    /// Writes the trailer and closes the log; returns the trailer
    /// (`steps`, `events`, `events_digest` in hex as reports give it).
    /// Only reads work afterwards.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.reading()?;
        let inner = self.inner.take().expect("checked above");
        let (driver, trailer, out) = inner.finish().map_err(|error| self.error(py, error, &[]))?;
        self.finished = Some(driver.into_provider());
        out.into_inner()
            .map_err(|error| LogError::new_err(format!("{}: {error}", self.path.display())))?;
        let dict = PyDict::new(py);
        dict.set_item("steps", trailer.steps)?;
        dict.set_item("events", trailer.events)?;
        dict.set_item("events_digest", format!("{:016x}", trailer.events_digest))?;
        Ok(dict)
    }

    /// The log's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether `finish()` has been called.
    #[getter]
    fn finished(&self) -> bool {
        self.inner.is_none()
    }

    /// A copy of the provider as it is now (a `Provider`, to read it or
    /// to try inputs on without logging them).
    fn provider(&mut self) -> PyResult<PyProvider> {
        let inner = self.current()?.clone();
        Ok(PyProvider::of(inner))
    }

    /// The provider's virtual time, µs.
    #[getter]
    fn now_us(&mut self) -> PyResult<u64> {
        Ok(self.current()?.now_us())
    }

    /// When the next timer is due (µs), or None.
    #[getter]
    fn next_timer_us(&mut self) -> PyResult<Option<u64>> {
        Ok(self.current()?.next_timer_us())
    }

    /// The steps logged so far.
    #[getter]
    fn steps_logged(&self) -> u64 {
        self.steps()
    }

    /// As `Provider.get_state`.
    fn get_state<'py>(&mut self, py: Python<'py>, invocation: u64) -> PyResult<Bound<'py, PyAny>> {
        let state = self
            .current()?
            .get_state(invocation_of(invocation))
            .map_err(|error| ClientError::new_err(error.to_string()))?;
        ordered(py, &state_value(&state)?, &["state", "at_us", "outcome"])
    }

    /// As `Provider.get_output`.
    fn get_output(&mut self, invocation: u64) -> PyResult<u64> {
        self.current()?
            .get_output(invocation_of(invocation))
            .map_err(|error| ClientError::new_err(error.to_string()))
    }

    /// As `Provider.metrics`.
    fn metrics<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let metrics = crate::json(self.current()?.metrics())?;
        crate::to_py(py, &metrics)
    }

    /// As `Provider.check_invariants`.
    fn check_invariants(&mut self) -> PyResult<()> {
        self.current()?
            .check_invariants()
            .map_err(|violation| InvariantViolation::new_err(violation.to_string()))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Finishes the log (if not yet), whether or not the block raised: a
    /// log of the steps taken verifies.
    #[pyo3(signature = (*_exception))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _exception: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<bool> {
        if self.inner.is_some() {
            self.finish(py)?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.inner.is_some() {
            "recording"
        } else {
            "finished"
        };
        format!(
            "<coldstart.Recorder {} ({state}, {} steps)>",
            self.path.display(),
            self.steps()
        )
    }
}
