//! What to do with a finding: keep it as a regression test, or as a
//! command log to replay and step through.

use super::{Finding, HarnessOptions};
use crate::driver::{DriveError, DriverOptions};
use crate::log::{LogFormat, PolicyIdentity, Recorder, RunError};
use std::io::Write;

impl Finding {
    /// A `#[test]` that checks `policy` (a Rust expression, such as
    /// `MyPolicy::default()`) on this finding's configuration and inputs
    /// with [`check_inputs`](super::check_inputs) and the options the
    /// finding was made with, ready to paste into a test file of a crate
    /// that depends on `coldstart` and `serde_json`. It fails while the
    /// problem is there, and passes once it is fixed.
    ///
    /// ```
    /// use coldstart::harness::{proptest_policy, HarnessOptions};
    /// use coldstart::{HostId, HostView, PlacementRequest, Policies};
    ///
    /// /// Names a host that does not exist.
    /// #[derive(Clone)]
    /// struct HostSeven;
    /// impl Policies for HostSeven {
    ///     fn select_host(&mut self, _: &dyn HostView, _: &PlacementRequest) -> Option<HostId> {
    ///         Some(HostId(7))
    ///     }
    /// }
    ///
    /// let mut runner = proptest::test_runner::TestRunner::deterministic();
    /// let error = proptest_policy(&HostSeven, &mut runner, &HarnessOptions::default()).unwrap_err();
    /// let test = error.finding().unwrap().regression_test("host_seven", "HostSeven");
    /// assert!(test.contains("fn host_seven()"));
    /// assert!(test.contains("coldstart::harness::check_inputs(&HostSeven"));
    /// ```
    pub fn regression_test(&self, test_name: &str, policy: &str) -> String {
        let config = serde_json::to_string(&self.config).unwrap_or_default();
        let inputs = serde_json::to_string(&self.inputs).unwrap_or_default();
        let fence = raw_fence(&[&config, &inputs]);
        let problem = self.problem.to_string().replace('\n', " ");
        format!(
            "/// Found by the coldstart policy harness ({kind}):\n\
             /// {problem}\n\
             #[test]\n\
             fn {test_name}() {{\n    \
                 let config: coldstart::Config =\n        \
                     serde_json::from_str(r{fence}\"{config}\"{fence}).unwrap();\n    \
                 let inputs: Vec<coldstart::Input> =\n        \
                     serde_json::from_str(r{fence}\"{inputs}\"{fence}).unwrap();\n    \
                 let options = coldstart::harness::HarnessOptions::default()\n        \
                     .with_starvation_bound_us({bound})\n        \
                     .with_drain_steps_max({drain});\n    \
                 let checked = coldstart::harness::check_inputs(&{policy}, &config, &inputs, &options);\n    \
                 assert!(checked.is_ok(), \"{{}}\", checked.unwrap_err());\n\
             }}\n",
            kind = self.problem.kind_name(),
            bound = self.starvation_bound_us,
            drain = self.drain_steps_max,
        )
    }

    /// Records this finding's inputs, run by `policy`, as a command log
    /// (then drains the timers, as a recorded run does), so that
    /// [`replay_with`](crate::log::replay_with) and the same policy step
    /// through it again. Inputs the provider refuses are part of a case;
    /// they are logged as the advance their time made, as
    /// [`Recorder`] does. Returns the writer.
    pub fn record<P: PolicyIdentity, W: Write>(
        &self,
        policy: &P,
        out: W,
        format: LogFormat,
    ) -> Result<W, RunError> {
        let options = DriverOptions {
            // An invariant break is what some findings are about: the log
            // must hold the run all the same.
            check_invariants: false,
            drain_steps_max: self.drain_steps_max as u64,
        };
        let mut recorder =
            Recorder::new(out, format, self.config.clone(), policy.clone(), options)?;
        for input in &self.inputs {
            match recorder.apply(input) {
                Ok(_) | Err(RunError::Drive(DriveError::Refused { .. })) => {}
                Err(error) => return Err(error),
            }
        }
        match recorder.drain_with(|_| {}) {
            Ok(_) | Err(RunError::Drive(DriveError::Undrained { .. })) => {}
            Err(error) => return Err(error),
        }
        let (_, _, out) = recorder.finish()?;
        Ok(out)
    }
}

/// The `#`s a raw string literal needs to hold every one of `texts`.
fn raw_fence(texts: &[&str]) -> String {
    let longest = texts
        .iter()
        .flat_map(|text| text.split('"').skip(1))
        .map(|after_quote| after_quote.chars().take_while(|&c| c == '#').count())
        .max()
        .unwrap_or(0);
    "#".repeat(longest + 1)
}

impl HarnessOptions {
    /// With at most `ops_max` ops per case after its registrations.
    pub fn with_ops_max(mut self, ops_max: usize) -> Self {
        self.ops_max = ops_max;
        self
    }

    /// With a starvation bound of `bound_us` virtual µs.
    pub fn with_starvation_bound_us(mut self, bound_us: u64) -> Self {
        self.starvation_bound_us = bound_us;
        self
    }

    /// With at most `drain_steps_max` advances to drain the timers.
    pub fn with_drain_steps_max(mut self, drain_steps_max: usize) -> Self {
        self.drain_steps_max = drain_steps_max;
        self
    }

    /// With at most `shrink_runs_max` case runs spent shrinking.
    pub fn with_shrink_runs_max(mut self, shrink_runs_max: usize) -> Self {
        self.shrink_runs_max = shrink_runs_max;
        self
    }

    /// Every case run on `config` rather than its own.
    pub fn with_config(mut self, config: crate::Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The cases' units standing for `scale`.
    pub fn with_scale(mut self, scale: super::Scale) -> Self {
        self.scale = scale;
        self
    }
}
