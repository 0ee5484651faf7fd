//! The parts of a log header as formats up to 11 wrote them, frozen: the
//! configuration (`Config`, `HostSpec`), the built-in policies (`Builtin`,
//! its `LambdaPrices`) and the policy choice (`PolicySpec`). bincode is not
//! self-describing, so a field added to any of them in format 12 or later
//! would change every later byte of an old header; the older header types
//! in `log/mod.rs` are built from these, not from the live types, and each
//! `of` refuses in words what an old header cannot hold.
//!
//! Format 12 added `Builtin::billing` (spec R104b): an old header reads as
//! Lambda's billing, which is how it ran, and `BuiltinV11::of` refuses any
//! other. A field added to a live type gets a default when an old header
//! is read ([`From`]) and a check in `of` (it must be that default): so far
//! also `Config::autoscale_tick_us` (`None`) and `Builtin`'s `autoscaler`
//! (`Off`) with its `autoscale_state` (empty).

use super::policy::{CustomPolicy, PolicySpec};
use super::LogError;
use crate::{Bandwidth, Builtin, Config, HostSpec, LambdaPrices, PolicyState};
use serde::{Deserialize, Serialize};

/// `HostSpec` as formats 2 to 11 wrote it (the fields in their order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct HostSpecV11 {
    ram_bytes: u64,
    slots: u32,
    disk_bytes: u64,
    copy_bytes_per_s: u64,
}

impl From<HostSpecV11> for HostSpec {
    fn from(h: HostSpecV11) -> HostSpec {
        HostSpec::new(h.ram_bytes, h.slots, h.disk_bytes, h.copy_bytes_per_s)
    }
}

impl HostSpecV11 {
    pub(super) fn of(host: &HostSpec, version: u32) -> Result<HostSpecV11, LogError> {
        if host.cores_millis != coldstart_core::config::DEFAULT_CORES_MILLIS
            || host.speed_permille != coldstart_core::config::DEFAULT_SPEED_PERMILLE
        {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold a host of {} millicores at speed {} per-mille (only 8,000 at 1,000; format 12 added them)",
                host.cores_millis, host.speed_permille
            )));
        }
        Ok(HostSpecV11 {
            ram_bytes: host.ram_bytes,
            slots: host.slots,
            disk_bytes: host.disk_bytes,
            copy_bytes_per_s: host.copy_bytes_per_s,
        })
    }

    /// Every host of `config`, as an old header holds them.
    pub(super) fn all_of(config: &Config, version: u32) -> Result<Vec<HostSpecV11>, LogError> {
        config
            .hosts
            .iter()
            .map(|host| HostSpecV11::of(host, version))
            .collect()
    }
}

/// `Config` as formats 10 and 11 wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ConfigV11 {
    main_storage: crate::MainStorageSpec,
    hosts: Vec<HostSpecV11>,
    cold_start_us: u64,
    warm_start_us: u64,
    pressure: crate::Pressure,
    terminal_records_max: Option<u64>,
    retry: crate::Retry,
    bandwidth: Bandwidth,
}

impl From<ConfigV11> for Config {
    fn from(c: ConfigV11) -> Config {
        Config::new(
            c.main_storage,
            c.hosts.into_iter().map(HostSpec::from).collect(),
        )
        .with_cold_start_us(c.cold_start_us)
        .with_warm_start_us(c.warm_start_us)
        .with_pressure(c.pressure)
        .with_terminal_records_max(c.terminal_records_max)
        .with_retry(c.retry)
        .with_bandwidth(c.bandwidth)
    }
}

impl ConfigV11 {
    /// `config` in a header of format `version` (10 or 11).
    pub(super) fn of(config: &Config, version: u32) -> Result<ConfigV11, LogError> {
        if config.autoscale_tick_us.is_some() {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold an autoscaler's reconcile period (format 12 added it)"
            )));
        }
        if config.cpu != crate::Cpu::Dedicated {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold shared CPU (format 12 added it)"
            )));
        }
        Ok(ConfigV11 {
            main_storage: config.main_storage,
            hosts: HostSpecV11::all_of(config, version)?,
            cold_start_us: config.cold_start_us,
            warm_start_us: config.warm_start_us,
            pressure: config.pressure,
            terminal_records_max: config.terminal_records_max,
            retry: config.retry,
            bandwidth: config.bandwidth,
        })
    }
}

/// `LambdaPrices` as formats 2 to 11 wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LambdaPricesV11 {
    per_request_picodollars: u64,
    per_gib_second_picodollars: u64,
    scratch_free_bytes: u64,
    scratch_per_gib_second_picodollars: u64,
    ingress_per_gib_picodollars: u64,
    egress_per_gib_picodollars: u64,
    rounding_us: u64,
}

impl From<LambdaPricesV11> for LambdaPrices {
    fn from(p: LambdaPricesV11) -> LambdaPrices {
        LambdaPrices::default()
            .with_per_request_picodollars(p.per_request_picodollars)
            .with_per_gib_second_picodollars(p.per_gib_second_picodollars)
            .with_scratch_free_bytes(p.scratch_free_bytes)
            .with_scratch_per_gib_second_picodollars(p.scratch_per_gib_second_picodollars)
            .with_ingress_per_gib_picodollars(p.ingress_per_gib_picodollars)
            .with_egress_per_gib_picodollars(p.egress_per_gib_picodollars)
            .with_rounding_us(p.rounding_us)
    }
}

impl LambdaPricesV11 {
    pub(super) fn of(prices: &LambdaPrices, version: u32) -> Result<LambdaPricesV11, LogError> {
        let d = LambdaPrices::default();
        if prices.provisioned_per_gib_second_picodollars != d.provisioned_per_gib_second_picodollars
            || prices.provisioned_duration_per_gib_second_picodollars
                != d.provisioned_duration_per_gib_second_picodollars
        {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold provisioned-concurrency prices of its own (format 12 added them)"
            )));
        }
        Ok(LambdaPricesV11 {
            per_request_picodollars: prices.per_request_picodollars,
            per_gib_second_picodollars: prices.per_gib_second_picodollars,
            scratch_free_bytes: prices.scratch_free_bytes,
            scratch_per_gib_second_picodollars: prices.scratch_per_gib_second_picodollars,
            ingress_per_gib_picodollars: prices.ingress_per_gib_picodollars,
            egress_per_gib_picodollars: prices.egress_per_gib_picodollars,
            rounding_us: prices.rounding_us,
        })
    }
}

/// `Builtin` as formats 6 to 11 wrote it. `PolicyState` is the live type:
/// it has not changed since format 6 (a field added to it must be frozen
/// here first).
#[derive(Serialize, Deserialize)]
pub(super) struct BuiltinV11 {
    host_selection: crate::HostSelection,
    warm_choice: crate::WarmChoice,
    keep_alive_us: u64,
    prices: LambdaPricesV11,
    #[serde(default)]
    keep_alive_policy: crate::KeepAlivePolicy,
    #[serde(default)]
    image_eviction: crate::ImageEviction,
    #[serde(default)]
    state: PolicyState,
}

impl BuiltinV11 {
    /// The policies as this build reads them.
    pub(super) fn read_as(self, version: u32) -> Result<Builtin, String> {
        if self.host_selection == crate::HostSelection::LeastCpuLoaded {
            return Err(format!(
                "a version {version} header names the least-cpu-loaded host selection, which format 12 added"
            ));
        }
        let mut builtin = Builtin::default()
            .with_host_selection(self.host_selection)
            .with_warm_choice(self.warm_choice)
            .with_keep_alive_us(self.keep_alive_us)
            .with_prices(self.prices.into())
            .with_keep_alive_policy(self.keep_alive_policy)
            .with_image_eviction(self.image_eviction);
        builtin.state = self.state;
        Ok(builtin)
    }

    /// `builtin` in a header of format `version` (6 to 11), which bills
    /// by Lambda's prices only (format 12 added `Builtin::billing`).
    pub(super) fn of(builtin: &Builtin, version: u32) -> Result<BuiltinV11, LogError> {
        if builtin.autoscaler != crate::Autoscaler::Off || !builtin.autoscale_state.is_empty() {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold an autoscaler (format 12 added it)"
            )));
        }
        if builtin.host_selection == crate::HostSelection::LeastCpuLoaded {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold the least-cpu-loaded host selection (format 12 added it)"
            )));
        }
        if builtin.billing != crate::Billing::Lambda {
            return Err(LogError::Encode(format!(
                "a version {version} log cannot hold Cloud Run's billing (format 12 added it)"
            )));
        }
        Ok(BuiltinV11 {
            host_selection: builtin.host_selection,
            warm_choice: builtin.warm_choice,
            keep_alive_us: builtin.keep_alive_us,
            prices: LambdaPricesV11::of(&builtin.prices, version)?,
            keep_alive_policy: builtin.keep_alive_policy,
            image_eviction: builtin.image_eviction,
            state: builtin.state.clone(),
        })
    }
}

/// `PolicySpec` as formats 8 to 11 wrote it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub(super) enum PolicySpecV11 {
    Builtin(BuiltinV11),
    Custom(CustomPolicy),
}

impl PolicySpecV11 {
    pub(super) fn read_as(self, version: u32) -> Result<PolicySpec, String> {
        Ok(match self {
            PolicySpecV11::Builtin(builtin) => PolicySpec::Builtin(builtin.read_as(version)?),
            PolicySpecV11::Custom(custom) => PolicySpec::Custom(custom),
        })
    }

    pub(super) fn of(spec: &PolicySpec, version: u32) -> Result<PolicySpecV11, LogError> {
        Ok(match spec {
            PolicySpec::Builtin(builtin) => {
                PolicySpecV11::Builtin(BuiltinV11::of(builtin, version)?)
            }
            PolicySpec::Custom(custom) => PolicySpecV11::Custom(custom.clone()),
        })
    }
}

/// Lambda's prices as formats up to 11 held them (old headers in tests).
impl Default for LambdaPricesV11 {
    fn default() -> LambdaPricesV11 {
        LambdaPricesV11::of(&LambdaPrices::default(), 11).expect("the default prices fit")
    }
}
