//! Bounds on every quantity an input or a configuration may carry. They are
//! far above any real platform's figures, and low enough that no sum the
//! provider forms (a due time, a disk total, a bill) can overflow a `u64`.
//!
//! Public on purpose: an input past one of them is refused
//! ([`Refusal`](crate::Refusal) names the field and the bound), so a caller
//! that builds inputs (a workload generator, a fuzzer, a scenario parser)
//! checks or clamps against these same numbers rather than its own copies.

/// The latest virtual time an input may carry: 2^62 µs, about 146,000 years.
pub const TIME_MAX_US: u64 = 1 << 62;
/// The longest duration (a phase, an overhead, a time limit, a keep-alive):
/// 2^48 µs, about 8.9 years.
pub const DURATION_MAX_US: u64 = 1 << 48;
/// The largest size in bytes (an image, a disk, RAM, a transfer): 2^50, 1 PiB.
pub const BYTES_MAX: u64 = 1 << 50;
/// The most hosts a configuration may list.
pub const HOSTS_MAX: u32 = 1 << 20;
/// The most function slots a host may have.
pub const SLOTS_MAX: u32 = 1 << 20;
/// The most invocations a function may let one container run at once
/// (`FunctionDef::concurrency`; Cloud Run's maximum is 1000).
pub const CONCURRENCY_MAX: u32 = 1000;
/// The most containers a function may keep warm at all times
/// (`FunctionDef::min_scale`, spec R159).
pub const MIN_SCALE_MAX: u32 = 1000;
/// The most cores a host may have, in millicores (`HostSpec::cores_millis`):
/// a thousand cores.
pub const CORES_MILLIS_MAX: u64 = 1_000_000;
/// The fastest a host's cores may run against the nominal speed, in
/// per-mille (`HostSpec::speed_permille`): a hundred times.
pub const SPEED_PERMILLE_MAX: u32 = 100_000;
/// The most CPU a function's invocation may demand, in millicores
/// (`FunctionDef::cpu_millis`): a thousand cores.
pub const CPU_MILLIS_MAX: u32 = 1_000_000;
