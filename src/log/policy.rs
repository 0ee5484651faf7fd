//! Which policies a log was recorded with: coldstart's built-in library, or
//! a policy of the user's own, named by the user.
//!
//! A log must say what ran it, or its replay proves nothing. The built-in
//! policies are plain data ([`Builtin`]), so a log carries them whole and
//! anyone can replay it. A policy of the user's own is code that a log
//! cannot carry: the log holds its name and parameters ([`CustomPolicy`]),
//! and a replay is given the policy itself and checks that it is the one
//! the log names ([`PolicyIdentity`]).

use crate::policy::{Builtin, Policies};
use serde::{Deserialize, Serialize};

/// The policies a log was recorded with.
///
/// ```
/// use coldstart::log::PolicySpec;
/// use coldstart::Builtin;
///
/// let spec = PolicySpec::Builtin(Builtin::default());
/// assert!(spec.builtin().is_some());
/// assert_eq!(spec.name(), "built-in");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
// One per log header: a box would only make it harder to build and match.
#[allow(clippy::large_enum_variant)]
pub enum PolicySpec {
    /// coldstart's policy library, with its settings and starting state.
    Builtin(Builtin),
    /// A policy of the user's own: replayed only with that policy given.
    Custom(CustomPolicy),
}

impl PolicySpec {
    /// The built-in policies, if these are they.
    pub fn builtin(&self) -> Option<&Builtin> {
        match self {
            PolicySpec::Builtin(builtin) => Some(builtin),
            PolicySpec::Custom(_) => None,
        }
    }

    /// A short name for messages: `built-in`, or the custom policy's name.
    pub fn name(&self) -> &str {
        match self {
            PolicySpec::Builtin(_) => "built-in",
            PolicySpec::Custom(custom) => &custom.name,
        }
    }
}

/// A policy of the user's own, as a log names it: a name and the
/// parameters that, with the code the name stands for, make it behave as it
/// did.
///
/// ```
/// use coldstart::log::CustomPolicy;
///
/// let policy = CustomPolicy::new("spread-by-function", r#"{"spread":3}"#);
/// assert_eq!(policy.name, "spread-by-function");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomPolicy {
    /// What the policy is called (a crate path, a class name: whatever the
    /// user's code knows it by).
    pub name: String,
    /// Its parameters and starting state, in any text form the user
    /// chooses (JSON is a good one); compared as written.
    pub parameters: String,
}

impl CustomPolicy {
    /// A policy called `name`, with `parameters`.
    pub fn new(name: impl Into<String>, parameters: impl Into<String>) -> CustomPolicy {
        CustomPolicy {
            name: name.into(),
            parameters: parameters.into(),
        }
    }
}

/// Policies that can say which they are, so a recorder writes it into a
/// log's header and a replay checks it was given the same.
///
/// The built-in library says so itself. A policy of your own answers with
/// a [`CustomPolicy`] whose parameters hold everything its behaviour
/// depends on (two policies with the same identity must make the same
/// decisions from the same state):
///
/// ```
/// use coldstart::log::{CustomPolicy, PolicyIdentity, PolicySpec};
/// use coldstart::{HostId, HostView, PlacementRequest, Policies};
///
/// /// Places every container on the highest-numbered host that fits.
/// #[derive(Clone)]
/// struct LastFit;
///
/// impl Policies for LastFit {
///     fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
///         (0..view.host_count())
///             .rev()
///             .map(HostId)
///             .find(|&host| view.fits(host, request))
///     }
/// }
///
/// impl PolicyIdentity for LastFit {
///     fn identity(&self) -> PolicySpec {
///         PolicySpec::Custom(CustomPolicy::new("last-fit", ""))
///     }
/// }
/// # assert_eq!(LastFit.identity().name(), "last-fit");
/// ```
pub trait PolicyIdentity: Policies {
    /// What a log header records of these policies.
    fn identity(&self) -> PolicySpec;
}

impl PolicyIdentity for Builtin {
    fn identity(&self) -> PolicySpec {
        PolicySpec::Builtin(self.clone())
    }
}
