//! Policies written in Python: an object with `select_host(view, request)`
//! and any of the other hooks of core's `Policies` trait (spec R106), run
//! by a provider, a recorder, a replay or the harness.
//!
//! A hook the object does not define takes the trait's default, as in
//! Rust. A host the policy names is judged by core as any policy's is (a
//! host that does not exist, is down or has no room is answered with
//! `DecisionRefused`, R54.5). What core cannot judge — an exception, an
//! answer that is no decision (a str where a host number goes, a negative
//! priority) — is kept as the policy's *failure*: from then on the hooks
//! answer the trait's defaults without calling Python, and whoever drives
//! the provider raises it as `PolicyError` (its `__cause__` the policy's
//! own exception) when the call returns. A policy therefore never unwinds
//! through core, and never aborts the interpreter.

use crate::PolicyError;
use coldstart::log::{CustomPolicy, PolicyIdentity, PolicySpec};
use coldstart::policy::DEFAULT_KEEP_ALIVE_US;
use coldstart::{
    Builtin, ContainerFacts, DiskFacts, Eviction, FunctionId, HostFacts, HostId, HostView,
    IdlePlan, ImageFacts, ImageId, InvocationId, JoinFacts, PlacementRequest, Policies,
    ScaleDecision, ScaleFacts, Tier, Usage,
};
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyTuple};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::sync::{Arc, Mutex};

/// The policies of a provider made from Python: the built-in library (a
/// scenario's `[provider.policy]`) or an object of the user's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// One per provider, stepped on every hook call: a box would add an
// indirection to each call for no saving.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Policy {
    /// Boxed: the built-ins' parameters and state dwarf a Python policy's
    /// handle.
    Builtin(Box<Builtin>),
    Python(PythonPolicy),
}

/// The trait's defaults, for the hooks a Python policy leaves out and for
/// every hook once it has failed.
#[derive(Clone)]
struct TraitDefaults;

impl Policies for TraitDefaults {}

/// Which hooks the object defines, looked up once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Hooks {
    select_host: bool,
    warm_priority: bool,
    join_priority: bool,
    join_before_waking: bool,
    idle_eviction_priority: bool,
    idle_plan: bool,
    keep_alive_us: bool,
    image_priority: bool,
    evicted: bool,
    collection_target_bytes: bool,
    bill: bool,
    desired_containers: bool,
}

impl Hooks {
    fn of(object: &Bound<'_, PyAny>) -> Hooks {
        let has = |name: &str| {
            object
                .getattr(name)
                .is_ok_and(|attribute| attribute.is_callable())
        };
        Hooks {
            select_host: has("select_host"),
            warm_priority: has("warm_priority"),
            join_priority: has("join_priority"),
            join_before_waking: has("join_before_waking"),
            idle_eviction_priority: has("idle_eviction_priority"),
            idle_plan: has("idle_plan"),
            keep_alive_us: has("keep_alive_us"),
            image_priority: has("image_priority"),
            evicted: has("evicted"),
            collection_target_bytes: has("collection_target_bytes"),
            bill: has("bill"),
            desired_containers: has("desired_containers"),
        }
    }
}

/// The first failure of a policy, taken by whoever drives it.
pub(crate) type Failure = Arc<Mutex<Option<PyErr>>>;

thread_local! {
    /// Whether clones made now share their original's failure slot: while
    /// the harness runs (its runs are of clones) and while `validate` tries
    /// an input on a clone, so their failures reach the caller. Other
    /// clones (a copied provider) fail on their own.
    static SHARING_FAILURES: Cell<bool> = const { Cell::new(false) };
}

/// Runs `body` with clones sharing their original's failure slot.
pub(crate) fn sharing_failures<T>(body: impl FnOnce() -> T) -> T {
    let before = SHARING_FAILURES.with(|sharing| sharing.replace(true));
    let result = body();
    SHARING_FAILURES.with(|sharing| sharing.set(before));
    result
}

/// A policy object of the user's, with the identity a log records.
pub(crate) struct PythonPolicy {
    object: Py<PyAny>,
    hooks: Hooks,
    identity: CustomPolicy,
    failure: Failure,
}

impl std::fmt::Debug for PythonPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PythonPolicy({:?})", self.identity.name)
    }
}

impl PythonPolicy {
    /// Wraps `object`; its identity is `coldstart._policy_identity(object)`
    /// (a name and parameters; python/coldstart/_policy.py).
    pub(crate) fn new(object: &Bound<'_, PyAny>) -> PyResult<PythonPolicy> {
        let py = object.py();
        let (name, parameters): (String, String) = py
            .import("coldstart._policy")?
            .getattr("policy_identity")?
            .call1((object,))?
            .extract()?;
        let hooks = Hooks::of(object);
        if !hooks.select_host {
            return Err(PyTypeError::new_err(format!(
                "a policy needs a select_host(view, request) method; {} has none",
                object.get_type().name()?
            )));
        }
        Ok(PythonPolicy {
            object: object.clone().unbind(),
            hooks,
            identity: CustomPolicy::new(name, parameters),
            failure: Failure::default(),
        })
    }

    pub(crate) fn object<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.object.bind(py)
    }

    pub(crate) fn failure(&self) -> &Failure {
        &self.failure
    }

    fn failed(&self) -> bool {
        self.failure.lock().map_or(true, |slot| slot.is_some())
    }

    /// Keeps the first failure.
    fn fail(&self, error: PyErr) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(error);
        }
    }

    /// Calls hook `name` with `args` and reads its answer with `read`; on
    /// an exception or an answer `read` refuses, keeps the failure and
    /// answers `fallback()`.
    fn call<T>(
        &self,
        name: &'static str,
        args: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyTuple>>,
        read: impl FnOnce(&Bound<'_, PyAny>) -> Option<T>,
        expected: &'static str,
        fallback: impl FnOnce() -> T,
    ) -> T {
        if self.failed() {
            return fallback();
        }
        let answer = Python::attach(|py| -> Result<T, PyErr> {
            let args = args(py)?;
            let answer = self
                .object
                .bind(py)
                .call_method1(name, args)
                .map_err(|error| {
                    // Ctrl-C and exit() are the user's, not the policy's
                    // failure: they go up as they are.
                    if !error.is_instance_of::<PyException>(py) {
                        return error;
                    }
                    let wrapped = PolicyError::new_err(format!(
                        "policy {}: {name} raised {}",
                        self.identity.name,
                        one_line(py, &error)
                    ));
                    wrapped.set_cause(py, Some(error));
                    wrapped
                })?;
            read(&answer).ok_or_else(|| {
                let shown = answer
                    .repr()
                    .map_or_else(|_| "?".to_string(), |text| text.to_string());
                PolicyError::new_err(format!(
                    "policy {}: {name} returned {shown}, not {expected}",
                    self.identity.name
                ))
            })
        });
        answer.unwrap_or_else(|error| {
            self.fail(error);
            fallback()
        })
    }
}

/// `TypeError: message`, as Python prints an exception's last line.
pub(crate) fn one_line(py: Python<'_>, error: &PyErr) -> String {
    let kind = error
        .get_type(py)
        .name()
        .map_or_else(|_| "an exception".to_string(), |name| name.to_string());
    format!("{kind}: {}", error.value(py))
}

/// An int in u64's range (not a bool, not a float).
fn read_u64(answer: &Bound<'_, PyAny>) -> Option<u64> {
    if answer.cast::<PyBool>().is_ok() {
        return None;
    }
    answer.extract::<u64>().ok()
}

/// A bool (`True` or `False`, not any truthy value).
fn read_bool(answer: &Bound<'_, PyAny>) -> Option<bool> {
    answer.cast::<PyBool>().ok().map(|value| value.is_true())
}

fn read_optional_u64(answer: &Bound<'_, PyAny>) -> Option<Option<u64>> {
    if answer.is_none() {
        return Some(None);
    }
    read_u64(answer).map(Some)
}

/// An idle plan: `(keep_alive_us, prewarm_after_us or None)`, a dict with
/// those keys (`prewarm_after_us` optional), or just the keep-alive.
fn read_idle_plan(answer: &Bound<'_, PyAny>) -> Option<IdlePlan> {
    if let Some(keep_alive_us) = read_u64(answer) {
        return Some(IdlePlan {
            keep_alive_us,
            prewarm_after_us: None,
        });
    }
    let (keep_alive, prewarm) = if let Ok(dict) = answer.cast::<PyDict>() {
        let keep_alive = dict.get_item("keep_alive_us").ok()??;
        let prewarm = dict
            .get_item("prewarm_after_us")
            .ok()?
            .unwrap_or_else(|| answer.py().None().into_bound(answer.py()));
        (keep_alive, prewarm)
    } else {
        answer
            .extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()
            .ok()?
    };
    Some(IdlePlan {
        keep_alive_us: read_u64(&keep_alive)?,
        prewarm_after_us: read_optional_u64(&prewarm)?,
    })
}

/// An autoscaler's answer: None (no opinion), a count (pre-warms then
/// idle for the default keep-alive, 10 minutes), `(containers,
/// keep_alive_us)`, or a dict with those keys (`keep_alive_us` optional).
fn read_scale_decision(answer: &Bound<'_, PyAny>) -> Option<Option<ScaleDecision>> {
    if answer.is_none() {
        return Some(None);
    }
    let count = |value: &Bound<'_, PyAny>| -> Option<u32> {
        if value.cast::<PyBool>().is_ok() {
            return None;
        }
        value.extract::<u32>().ok()
    };
    if let Some(containers) = count(answer) {
        return Some(Some(ScaleDecision {
            containers,
            keep_alive_us: DEFAULT_KEEP_ALIVE_US,
        }));
    }
    let (containers, keep_alive) = if let Ok(dict) = answer.cast::<PyDict>() {
        let containers = dict.get_item("containers").ok()??;
        let keep_alive = dict.get_item("keep_alive_us").ok()?;
        (containers, keep_alive)
    } else {
        let (containers, keep_alive) = answer
            .extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()
            .ok()?;
        (containers, Some(keep_alive))
    };
    let keep_alive_us = match keep_alive {
        Some(value) => read_u64(&value)?,
        None => DEFAULT_KEEP_ALIVE_US,
    };
    Some(Some(ScaleDecision {
        containers: count(&containers)?,
        keep_alive_us,
    }))
}

impl Clone for PythonPolicy {
    /// A deep copy of the object (`copy.deepcopy`), so a clone starts from
    /// the state the policy had, as a Rust policy's clone does; with a
    /// failure slot of its own, or its original's inside
    /// [`sharing_failures`].
    fn clone(&self) -> Self {
        let object = Python::attach(|py| {
            let copied = py
                .import("copy")
                .and_then(|copy| copy.getattr("deepcopy"))
                .and_then(|deepcopy| deepcopy.call1((self.object.bind(py),)));
            match copied {
                Ok(copy) => copy.unbind(),
                Err(error) => {
                    let wrapped = PolicyError::new_err(format!(
                        "policy {}: copy.deepcopy raised {}",
                        self.identity.name,
                        one_line(py, &error)
                    ));
                    wrapped.set_cause(py, Some(error));
                    self.fail(wrapped);
                    self.object.clone_ref(py)
                }
            }
        });
        PythonPolicy {
            object,
            hooks: self.hooks,
            identity: self.identity.clone(),
            failure: if SHARING_FAILURES.with(Cell::get) {
                Arc::clone(&self.failure)
            } else {
                Failure::default()
            },
        }
    }
}

impl PartialEq for PythonPolicy {
    /// Same identity, and the objects equal by Python's `==` (which, for a
    /// class without `__eq__`, is identity).
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
            && Python::attach(|py| {
                self.object
                    .bind(py)
                    .eq(other.object.bind(py))
                    .unwrap_or(false)
            })
    }
}

/// A Python policy in a snapshot: its identity and the object, pickled.
#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    parameters: String,
    /// `pickle.dumps(object)`, in hex.
    pickle: String,
}

impl Serialize for PythonPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pickled = Python::attach(|py| -> PyResult<Vec<u8>> {
            let bytes = py
                .import("pickle")?
                .getattr("dumps")?
                .call1((self.object.bind(py),))?;
            Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
        })
        .map_err(|error| {
            serde::ser::Error::custom(format!(
                "policy {} cannot be pickled: {error}",
                self.identity.name
            ))
        })?;
        StoredPolicy {
            name: self.identity.name.clone(),
            parameters: self.identity.parameters.clone(),
            pickle: pickled.iter().map(|byte| format!("{byte:02x}")).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PythonPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let stored = StoredPolicy::deserialize(deserializer)?;
        let text = stored.pickle.as_bytes();
        if text.len() % 2 != 0 {
            return Err(D::Error::custom("a policy's pickle is not hex"));
        }
        let bytes = text
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| D::Error::custom("a policy's pickle is not hex"))?;
        Python::attach(|py| -> PyResult<PythonPolicy> {
            let object = py
                .import("pickle")?
                .getattr("loads")?
                .call1((PyBytes::new(py, &bytes),))?;
            Ok(PythonPolicy {
                hooks: Hooks::of(&object),
                object: object.unbind(),
                identity: CustomPolicy::new(stored.name, stored.parameters),
                failure: Failure::default(),
            })
        })
        .map_err(|error| D::Error::custom(format!("the policy cannot be unpickled: {error}")))
    }
}

// ---------------------------------------------------------------------------
// What a Python policy is shown.

/// The provider as `select_host` sees it (spec R107). Valid only during
/// the call it is passed to: a view kept and used later raises
/// `PolicyError`.
#[pyclass(module = "coldstart._native", name = "HostView", unsendable)]
pub(crate) struct PyHostView {
    view: Cell<Option<*const (dyn HostView + 'static)>>,
}

impl PyHostView {
    fn with<T>(&self, read: impl FnOnce(&dyn HostView) -> T) -> PyResult<T> {
        match self.view.get() {
            // SAFETY: the pointer is set only while the `select_host` call
            // it was made for runs (`select_host` below clears it before
            // returning, whatever Python did), and the view it points to
            // outlives that call; the class is unsendable, so only the
            // thread that made it reads it.
            Some(view) => Ok(read(unsafe { &*view })),
            None => Err(PolicyError::new_err(
                "a HostView is valid only during the select_host call it was given to",
            )),
        }
    }
}

fn host_of(host: u32) -> HostId {
    HostId(host)
}

#[pymethods]
impl PyHostView {
    /// The provider's time (µs).
    fn now_us(&self) -> PyResult<u64> {
        self.with(|view| view.now_us())
    }

    /// How many hosts the configuration has (numbered from 0).
    fn host_count(&self) -> PyResult<u32> {
        self.with(|view| view.host_count())
    }

    /// A host's capacity and use, or None for a host that does not exist.
    fn host(&self, host: u32) -> PyResult<Option<PyHostFacts>> {
        self.with(|view| view.host(host_of(host)).map(PyHostFacts::from))
    }

    /// Whether the image is on the host's disk, or on its way there.
    fn has_image(&self, host: u32, image: u64) -> PyResult<bool> {
        self.with(|view| view.has_image(host_of(host), ImageId::from_bits(image)))
    }

    /// Whether the host can take the request now (evicting idle
    /// containers and unpinned images if it must).
    fn fits(&self, host: u32, request: PyRef<'_, PyPlacementRequest>) -> PyResult<bool> {
        let request = request.request();
        self.with(|view| view.fits(host_of(host), &request))
    }

    /// Whether the host is up.
    fn is_up(&self, host: u32) -> PyResult<bool> {
        self.with(|view| view.is_up(host_of(host)))
    }

    /// The lowest-numbered host that fits the request (first fit), or None.
    fn first_fitting_host(&self, request: PyRef<'_, PyPlacementRequest>) -> PyResult<Option<u32>> {
        let request = request.request();
        self.with(|view| view.first_fitting_host(&request).map(|host| host.0))
    }

    fn __repr__(&self) -> String {
        match self.with(|view| (view.now_us(), view.host_count())) {
            Ok((now_us, hosts)) => format!("<coldstart.HostView at {now_us} µs: {hosts} hosts>"),
            Err(_) => "<coldstart.HostView (expired)>".to_string(),
        }
    }
}

/// Defines a frozen Python class of plain fields, readable as attributes,
/// with a `repr` of them.
macro_rules! facts_class {
    ($(#[$meta:meta])* $rust:ident, $python:literal { $($field:ident: $type:ty),* $(,)? }) => {
        $(#[$meta])*
        #[pyclass(module = "coldstart._native", name = $python, frozen, get_all)]
        #[derive(Clone, Debug)]
        pub(crate) struct $rust {
            $(pub(crate) $field: $type),*
        }

        #[pymethods]
        impl $rust {
            fn __repr__(&self) -> String {
                let fields: Vec<String> = vec![$(format!("{}={:?}", stringify!($field), self.$field)),*];
                format!("{}({})", $python, fields.join(", "))
            }
        }
    };
}

facts_class!(
    /// What `select_host` is asked to place; `invocation` is None for a
    /// pre-warm.
    PyPlacementRequest, "PlacementRequest" {
        invocation: Option<u64>,
        function: u64,
        image: u64,
        image_bytes: u64,
        memory_bytes: u64,
        scratch_bytes: u64,
    }
);

impl PyPlacementRequest {
    fn request(&self) -> PlacementRequest {
        PlacementRequest {
            invocation: self.invocation.map(InvocationId::from_bits),
            function: FunctionId::from_bits(self.function),
            image: ImageId::from_bits(self.image),
            image_bytes: self.image_bytes,
            memory_bytes: self.memory_bytes,
            scratch_bytes: self.scratch_bytes,
        }
    }
}

impl From<&PlacementRequest> for PyPlacementRequest {
    fn from(request: &PlacementRequest) -> Self {
        PyPlacementRequest {
            invocation: request.invocation.map(InvocationId::to_bits),
            function: request.function.to_bits(),
            image: request.image.to_bits(),
            image_bytes: request.image_bytes,
            memory_bytes: request.memory_bytes,
            scratch_bytes: request.scratch_bytes,
        }
    }
}

facts_class!(
    /// A host's capacity (its spec) and use, as `HostView.host` gives it.
    PyHostFacts, "HostFacts" {
        ram_bytes: u64,
        slots: u32,
        disk_bytes: u64,
        copy_bytes_per_s: u64,
        ram_used_bytes: u64,
        slots_used: u32,
        disk_used_bytes: u64,
        idle_containers: u32,
        busy_containers: u32,
        cores_millis: u64,
        speed_permille: u32,
        cpu_demand_millis: u64,
    }
);

impl From<HostFacts> for PyHostFacts {
    fn from(facts: HostFacts) -> Self {
        PyHostFacts {
            ram_bytes: facts.spec.ram_bytes,
            slots: facts.spec.slots,
            disk_bytes: facts.spec.disk_bytes,
            copy_bytes_per_s: facts.spec.copy_bytes_per_s,
            ram_used_bytes: facts.ram_used_bytes,
            slots_used: facts.slots_used,
            disk_used_bytes: facts.disk_used_bytes,
            idle_containers: facts.idle_containers,
            busy_containers: facts.busy_containers,
            cores_millis: facts.spec.cores_millis,
            speed_permille: facts.spec.speed_permille,
            cpu_demand_millis: facts.cpu_demand_millis,
        }
    }
}

facts_class!(
    /// A container that has just become idle.
    PyContainerFacts, "ContainerFacts" {
        container: u64,
        function: u64,
        host: u32,
        memory_bytes: u64,
        created_at_us: u64,
        created_seq: u64,
        last_used_us: u64,
        uses: u64,
    }
);

impl From<&ContainerFacts> for PyContainerFacts {
    fn from(facts: &ContainerFacts) -> Self {
        PyContainerFacts {
            container: facts.container.to_bits(),
            function: facts.function.to_bits(),
            host: facts.host.0,
            memory_bytes: facts.memory_bytes,
            created_at_us: facts.created_at_us,
            created_seq: facts.created_seq,
            last_used_us: facts.last_used_us,
            uses: facts.uses,
        }
    }
}

facts_class!(
    /// A container with room that an invocation of its function may join
    /// (spec R57b): `ready` when it is running code, `invocations` what it
    /// holds now, `concurrency` the most it may hold.
    PyJoinFacts, "JoinFacts" {
        container: u64,
        function: u64,
        host: u32,
        created_at_us: u64,
        created_seq: u64,
        ready: bool,
        invocations: u32,
        concurrency: u32,
    }
);

impl From<&JoinFacts> for PyJoinFacts {
    fn from(facts: &JoinFacts) -> Self {
        PyJoinFacts {
            container: facts.container.to_bits(),
            function: facts.function.to_bits(),
            host: facts.host.0,
            created_at_us: facts.created_at_us,
            created_seq: facts.created_seq,
            ready: facts.ready,
            invocations: facts.invocations,
            concurrency: facts.concurrency,
        }
    }
}

/// A tier as `(name, host)`: `("MainStorage", None)` or `("Host", 3)`.
fn tier_parts(tier: Tier) -> (String, Option<u32>) {
    match tier {
        Tier::MainStorage => ("MainStorage".to_string(), None),
        Tier::Host(host) => ("Host".to_string(), Some(host.0)),
    }
}

facts_class!(
    /// An image copy that has just become evictable: in main storage
    /// (`tier == "MainStorage"`, `host` None) or on a host's disk
    /// (`tier == "Host"`).
    PyImageFacts, "ImageFacts" {
        image: u64,
        tier: String,
        host: Option<u32>,
        size_bytes: u64,
        first_stored_us: u64,
        last_used_us: u64,
        uses: u64,
    }
);

impl From<&ImageFacts> for PyImageFacts {
    fn from(facts: &ImageFacts) -> Self {
        let (tier, host) = tier_parts(facts.tier);
        PyImageFacts {
            image: facts.image.to_bits(),
            tier,
            host,
            size_bytes: facts.size_bytes,
            first_stored_us: facts.first_stored_us,
            last_used_us: facts.last_used_us,
            uses: facts.uses,
        }
    }
}

facts_class!(
    /// A disk's capacity and use, as `collection_target_bytes` sees it.
    PyDiskFacts, "DiskFacts" {
        tier: String,
        host: Option<u32>,
        capacity_bytes: u64,
        used_bytes: u64,
    }
);

impl From<&DiskFacts> for PyDiskFacts {
    fn from(facts: &DiskFacts) -> Self {
        let (tier, host) = tier_parts(facts.tier);
        PyDiskFacts {
            tier,
            host,
            capacity_bytes: facts.capacity_bytes,
            used_bytes: facts.used_bytes,
        }
    }
}

facts_class!(
    /// An eviction about to happen: `kind` is "Container" (`container`,
    /// `function`, `host` set) or "Image" (`image`, `tier`, and `host` for
    /// a host's disk); `priority` is the one that ordered it.
    PyEviction, "Eviction" {
        kind: String,
        container: Option<u64>,
        function: Option<u64>,
        host: Option<u32>,
        image: Option<u64>,
        tier: Option<String>,
        priority: u64,
    }
);

impl From<&Eviction> for PyEviction {
    fn from(eviction: &Eviction) -> Self {
        match *eviction {
            Eviction::Container {
                container,
                function,
                host,
                priority,
            } => PyEviction {
                kind: "Container".to_string(),
                container: Some(container.to_bits()),
                function: Some(function.to_bits()),
                host: Some(host.0),
                image: None,
                tier: None,
                priority,
            },
            Eviction::Image {
                image,
                tier,
                priority,
            } => {
                let (tier, host) = tier_parts(tier);
                PyEviction {
                    kind: "Image".to_string(),
                    container: None,
                    function: None,
                    host,
                    image: Some(image.to_bits()),
                    tier: Some(tier),
                    priority,
                }
            }
        }
    }
}

facts_class!(
    /// What an ended invocation used, for `bill`.
    PyUsage, "Usage" {
        function: u64,
        time_limit_us: u64,
        memory_bytes: u64,
        scratch_bytes: u64,
        duration_us: u64,
        ingress_bytes: u64,
        egress_bytes: u64,
        cold: bool,
    }
);

impl From<&Usage> for PyUsage {
    fn from(usage: &Usage) -> Self {
        PyUsage {
            function: usage.function.to_bits(),
            time_limit_us: usage.time_limit_us,
            memory_bytes: usage.memory_bytes,
            scratch_bytes: usage.scratch_bytes,
            duration_us: usage.duration_us,
            ingress_bytes: usage.ingress_bytes,
            egress_bytes: usage.egress_bytes,
            cold: usage.cold,
        }
    }
}

facts_class!(
    /// What an autoscaler is told about a function at a reconcile tick
    /// (spec R168): `demand_us` is the integral of its unended invocations
    /// over the `interval_us` since the last tick (divided by it, the mean
    /// concurrency observed).
    PyScaleFacts, "ScaleFacts" {
        function: u64,
        now_us: u64,
        tick_us: u64,
        interval_us: u64,
        demand_us: u128,
        demand: u64,
        concurrency: u32,
        containers: u32,
        ready_containers: u32,
        idle_containers: u32,
    }
);

impl From<&ScaleFacts> for PyScaleFacts {
    fn from(facts: &ScaleFacts) -> Self {
        PyScaleFacts {
            function: facts.function.to_bits(),
            now_us: facts.now_us,
            tick_us: facts.tick_us,
            interval_us: facts.interval_us,
            demand_us: facts.demand_us,
            demand: facts.demand,
            concurrency: facts.concurrency,
            containers: facts.containers,
            ready_containers: facts.ready_containers,
            idle_containers: facts.idle_containers,
        }
    }
}

/// `(value,)` for a hook's arguments.
fn one<'py, T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
    py: Python<'py>,
    value: T,
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, [Bound::new(py, value)?.into_any()])
}

const HOST_OR_NONE: &str = "a host number (an int from 0 to 2**32 - 1) or None";
const PRIORITY: &str = "a priority (an int from 0 to 2**64 - 1)";
const DURATION: &str = "a duration in µs (an int from 0 to 2**64 - 1)";

impl Policies for PythonPolicy {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        // SAFETY (of the transmute): only the lifetime changes; the view
        // object holding it is cleared before this function returns.
        let erased: *const (dyn HostView + 'static) = unsafe {
            std::mem::transmute::<&dyn HostView, &'static dyn HostView>(view) as *const _
        };
        let shown: Cell<Option<Py<PyHostView>>> = Cell::new(None);
        let answer = self.call(
            "select_host",
            |py| {
                let view = Bound::new(
                    py,
                    PyHostView {
                        view: Cell::new(Some(erased)),
                    },
                )?;
                shown.set(Some(view.clone().unbind()));
                PyTuple::new(
                    py,
                    [
                        view.into_any(),
                        Bound::new(py, PyPlacementRequest::from(request))?.into_any(),
                    ],
                )
            },
            |answer| {
                if answer.is_none() {
                    return Some(None);
                }
                if answer.cast::<PyBool>().is_ok() {
                    return None;
                }
                answer.extract::<u32>().ok().map(|host| Some(HostId(host)))
            },
            HOST_OR_NONE,
            || TraitDefaults.select_host(view, request),
        );
        if let Some(shown) = shown.take() {
            Python::attach(|py| shown.bind(py).borrow().view.set(None));
        }
        answer
    }

    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        if !self.hooks.warm_priority {
            return TraitDefaults.warm_priority(container);
        }
        self.call(
            "warm_priority",
            |py| one(py, PyContainerFacts::from(container)),
            read_u64,
            PRIORITY,
            || TraitDefaults.warm_priority(container),
        )
    }

    fn join_priority(&mut self, container: &JoinFacts) -> u64 {
        if !self.hooks.join_priority {
            return TraitDefaults.join_priority(container);
        }
        self.call(
            "join_priority",
            |py| one(py, PyJoinFacts::from(container)),
            read_u64,
            PRIORITY,
            || TraitDefaults.join_priority(container),
        )
    }

    fn join_before_waking(&mut self, join: &JoinFacts, idle: &ContainerFacts) -> bool {
        if !self.hooks.join_before_waking {
            return TraitDefaults.join_before_waking(join, idle);
        }
        self.call(
            "join_before_waking",
            |py| {
                PyTuple::new(
                    py,
                    [
                        Bound::new(py, PyJoinFacts::from(join))?.into_any(),
                        Bound::new(py, PyContainerFacts::from(idle))?.into_any(),
                    ],
                )
            },
            read_bool,
            "True or False",
            || TraitDefaults.join_before_waking(join, idle),
        )
    }

    fn idle_eviction_priority(&mut self, container: &ContainerFacts) -> u64 {
        if !self.hooks.idle_eviction_priority {
            return TraitDefaults.idle_eviction_priority(container);
        }
        self.call(
            "idle_eviction_priority",
            |py| one(py, PyContainerFacts::from(container)),
            read_u64,
            PRIORITY,
            || TraitDefaults.idle_eviction_priority(container),
        )
    }

    fn keep_alive_us(&mut self, container: &ContainerFacts) -> u64 {
        if !self.hooks.keep_alive_us {
            return TraitDefaults.keep_alive_us(container);
        }
        self.call(
            "keep_alive_us",
            |py| one(py, PyContainerFacts::from(container)),
            read_u64,
            DURATION,
            || TraitDefaults.keep_alive_us(container),
        )
    }

    fn idle_plan(&mut self, container: &ContainerFacts) -> IdlePlan {
        if !self.hooks.idle_plan {
            // The trait's default, through this policy's keep_alive_us.
            return IdlePlan {
                keep_alive_us: self.keep_alive_us(container),
                prewarm_after_us: None,
            };
        }
        self.call(
            "idle_plan",
            |py| one(py, PyContainerFacts::from(container)),
            read_idle_plan,
            "an idle plan ((keep_alive_us, prewarm_after_us or None), a dict of them, or an int)",
            || TraitDefaults.idle_plan(container),
        )
    }

    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        if !self.hooks.image_priority {
            return TraitDefaults.image_priority(image);
        }
        self.call(
            "image_priority",
            |py| one(py, PyImageFacts::from(image)),
            read_u64,
            PRIORITY,
            || TraitDefaults.image_priority(image),
        )
    }

    fn evicted(&mut self, eviction: &Eviction) {
        if !self.hooks.evicted {
            return;
        }
        self.call(
            "evicted",
            |py| one(py, PyEviction::from(eviction)),
            |_| Some(()),
            "anything",
            || (),
        )
    }

    fn collection_target_bytes(&mut self, disk: &DiskFacts) -> Option<u64> {
        if !self.hooks.collection_target_bytes {
            return TraitDefaults.collection_target_bytes(disk);
        }
        self.call(
            "collection_target_bytes",
            |py| one(py, PyDiskFacts::from(disk)),
            read_optional_u64,
            "a size in bytes (an int from 0 to 2**64 - 1) or None",
            || TraitDefaults.collection_target_bytes(disk),
        )
    }

    fn bill(&self, usage: &Usage) -> u64 {
        if !self.hooks.bill {
            return TraitDefaults.bill(usage);
        }
        self.call(
            "bill",
            |py| one(py, PyUsage::from(usage)),
            read_u64,
            "a cost in picodollars (an int from 0 to 2**64 - 1)",
            || TraitDefaults.bill(usage),
        )
    }

    fn desired_containers(&mut self, facts: &ScaleFacts) -> Option<ScaleDecision> {
        if !self.hooks.desired_containers {
            return TraitDefaults.desired_containers(facts);
        }
        self.call(
            "desired_containers",
            |py| one(py, PyScaleFacts::from(facts)),
            read_scale_decision,
            "a container count (an int from 0 to 2**32 - 1), (containers, keep_alive_us), a dict of them, or None",
            || TraitDefaults.desired_containers(facts),
        )
    }
}

impl PolicyIdentity for PythonPolicy {
    fn identity(&self) -> PolicySpec {
        PolicySpec::Custom(self.identity.clone())
    }
}

// ---------------------------------------------------------------------------
// Either kind.

impl Policy {
    /// The policies of `policy=`: the object's, or `builtin` for None.
    pub(crate) fn of(policy: Option<&Bound<'_, PyAny>>, builtin: Builtin) -> PyResult<Policy> {
        match policy.filter(|policy| !policy.is_none()) {
            Some(object) => Ok(Policy::Python(PythonPolicy::new(object)?)),
            None => Ok(Policy::Builtin(Box::new(builtin))),
        }
    }

    pub(crate) fn python(&self) -> Option<&PythonPolicy> {
        match self {
            Policy::Python(policy) => Some(policy),
            Policy::Builtin(_) => None,
        }
    }

    /// The failure a Python policy kept, taken (None for the built-ins).
    pub(crate) fn take_failure(&self) -> Option<PyErr> {
        take_failure(self.python()?.failure())
    }

    /// The Python object, or None for the built-ins.
    pub(crate) fn object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Policy::Python(policy) => Ok(policy.object(py).clone().unbind()),
            Policy::Builtin(_) => Ok(py.None()),
        }
    }
}

pub(crate) fn take_failure(failure: &Failure) -> Option<PyErr> {
    failure.lock().ok()?.take()
}

/// Delegates every hook to the variant.
macro_rules! delegate {
    ($self:ident, $policy:ident => $call:expr) => {
        match $self {
            Policy::Builtin($policy) => $call,
            Policy::Python($policy) => $call,
        }
    };
}

impl Policies for Policy {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        delegate!(self, policy => policy.select_host(view, request))
    }

    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        delegate!(self, policy => policy.warm_priority(container))
    }

    fn join_priority(&mut self, container: &JoinFacts) -> u64 {
        delegate!(self, policy => policy.join_priority(container))
    }

    fn join_before_waking(&mut self, join: &JoinFacts, idle: &ContainerFacts) -> bool {
        delegate!(self, policy => policy.join_before_waking(join, idle))
    }

    fn idle_eviction_priority(&mut self, container: &ContainerFacts) -> u64 {
        delegate!(self, policy => policy.idle_eviction_priority(container))
    }

    fn keep_alive_us(&mut self, container: &ContainerFacts) -> u64 {
        delegate!(self, policy => policy.keep_alive_us(container))
    }

    fn idle_plan(&mut self, container: &ContainerFacts) -> IdlePlan {
        delegate!(self, policy => policy.idle_plan(container))
    }

    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        delegate!(self, policy => policy.image_priority(image))
    }

    fn evicted(&mut self, eviction: &Eviction) {
        delegate!(self, policy => policy.evicted(eviction))
    }

    fn collection_target_bytes(&mut self, disk: &DiskFacts) -> Option<u64> {
        delegate!(self, policy => policy.collection_target_bytes(disk))
    }

    fn bill(&self, usage: &Usage) -> u64 {
        delegate!(self, policy => policy.bill(usage))
    }

    fn desired_containers(&mut self, facts: &ScaleFacts) -> Option<ScaleDecision> {
        delegate!(self, policy => policy.desired_containers(facts))
    }

    fn bill_container(&self, usage: &coldstart::ContainerUsage) -> Option<u64> {
        delegate!(self, policy => policy.bill_container(usage))
    }
}

impl PolicyIdentity for Policy {
    fn identity(&self) -> PolicySpec {
        delegate!(self, policy => policy.identity())
    }
}

/// The classes a policy is shown, for the module.
pub(crate) fn add_classes(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyHostView>()?;
    module.add_class::<PyPlacementRequest>()?;
    module.add_class::<PyHostFacts>()?;
    module.add_class::<PyContainerFacts>()?;
    module.add_class::<PyJoinFacts>()?;
    module.add_class::<PyImageFacts>()?;
    module.add_class::<PyDiskFacts>()?;
    module.add_class::<PyEviction>()?;
    module.add_class::<PyUsage>()?;
    module.add_class::<PyScaleFacts>()?;
    Ok(())
}
