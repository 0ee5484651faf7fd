//! Billing: what an invocation costs, in picodollars (10^-12 USD).
//!
//! The default, `LambdaPrices`, follows AWS Lambda's public price sheet for
//! x86 in us-east-1 (first tier): $0.0000166667 per GB-second of configured
//! memory, $0.20 per million requests, duration rounded up to 1 ms, ephemeral
//! storage above the free 512 MB at $0.0000000309 per GB-second, and, since
//! 2025-08-01, the init phase billed too. Transfer prices are parameters: data
//! in is free on AWS, data out to the internet is $0.09 per GB (first tier).
//! A GB here is 2^30 bytes, as Lambda counts memory.
//!
//! Google Cloud Run bills container instances instead ([`CloudRunPrices`],
//! spec R104a–R104d): by the vCPU-second and the GiB-second of an instance's
//! time, rounded up to 100 ms — its whole life under instance-based billing,
//! or only while it starts or holds at least one request under request-based
//! billing, which adds a fee per request. [`Billing`] chooses the model.

use crate::{ContainerId, FunctionId};
use serde::{Deserialize, Serialize};

/// What an invocation used, as the billing policy sees it.
///
/// `#[non_exhaustive]` (it grows as the core reports more of what an
/// invocation used): the core builds it; a test of a billing policy builds
/// one with [`Usage::new`] and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// The function invoked, so that a policy can price functions apart.
    pub function: FunctionId,
    /// The function's time limit (µs): with `duration_us`, how close to it
    /// the invocation ran (a timed-out one is billed up to its end).
    pub time_limit_us: u64,
    /// The function's memory, as configured (what Lambda bills by).
    pub memory_bytes: u64,
    /// The function's scratch space (ephemeral storage).
    pub scratch_bytes: u64,
    /// Billed time before rounding: the cold-start overhead (cold starts
    /// only) plus the time its code ran, in µs.
    pub duration_us: u64,
    /// Bytes sent to the invocation.
    pub ingress_bytes: u64,
    /// Bytes it sent back; zero unless it completed.
    pub egress_bytes: u64,
    /// Whether it started cold.
    pub cold: bool,
    /// Whether it ran on a floor container (provisioned concurrency, spec
    /// R164): `LambdaPrices` bills its duration at the provisioned rate.
    #[serde(default)]
    pub provisioned: bool,
}

impl Usage {
    /// A warm invocation of `function` (with its `time_limit_us` and
    /// `memory_bytes`) billed for `duration_us`, with no scratch space and
    /// no payload either way.
    pub fn new(
        function: FunctionId,
        time_limit_us: u64,
        memory_bytes: u64,
        duration_us: u64,
    ) -> Usage {
        Usage {
            function,
            time_limit_us,
            memory_bytes,
            scratch_bytes: 0,
            duration_us,
            ingress_bytes: 0,
            egress_bytes: 0,
            cold: false,
            provisioned: false,
        }
    }

    /// This function, in place of what there was.
    pub fn with_function(mut self, function: FunctionId) -> Usage {
        self.function = function;
        self
    }

    /// This time limit (µs), in place of what there was.
    pub fn with_time_limit_us(mut self, time_limit_us: u64) -> Usage {
        self.time_limit_us = time_limit_us;
        self
    }

    /// This memory (bytes), in place of what there was.
    pub fn with_memory_bytes(mut self, memory_bytes: u64) -> Usage {
        self.memory_bytes = memory_bytes;
        self
    }

    /// This scratch space (bytes), in place of what there was.
    pub fn with_scratch_bytes(mut self, scratch_bytes: u64) -> Usage {
        self.scratch_bytes = scratch_bytes;
        self
    }

    /// This billed time before rounding (µs), in place of what there was.
    pub fn with_duration_us(mut self, duration_us: u64) -> Usage {
        self.duration_us = duration_us;
        self
    }

    /// This request size (bytes), in place of what there was.
    pub fn with_ingress_bytes(mut self, ingress_bytes: u64) -> Usage {
        self.ingress_bytes = ingress_bytes;
        self
    }

    /// This response size (bytes), in place of what there was.
    pub fn with_egress_bytes(mut self, egress_bytes: u64) -> Usage {
        self.egress_bytes = egress_bytes;
        self
    }

    /// Whether it started cold, in place of what there was.
    pub fn with_cold(mut self, cold: bool) -> Usage {
        self.cold = cold;
        self
    }

    /// Whether it ran on a floor container, in place of what there was.
    pub fn with_provisioned(mut self, provisioned: bool) -> Usage {
        self.provisioned = provisioned;
        self
    }
}

/// A price sheet in Lambda's shape (spec R103, R104): a fee per request,
/// memory and scratch by the GiB-second of billed duration, transfers by
/// the GiB. [`LambdaPrices::default`] is AWS Lambda's x86 us-east-1 first
/// tier; every figure is a parameter, so other providers' sheets fit too.
///
/// ```
/// use coldstart_core::{FunctionId, LambdaPrices, Usage, GIB, MIB};
///
/// // 1 GiB for 999,001 µs (billed as 1 s), scratch within the free allowance.
/// let usage = Usage::new(FunctionId::from_bits(0), 3_000_000, GIB, 999_001)
///     .with_scratch_bytes(512 * MIB);
/// // $0.0000166667 for the GiB-second, $0.0000002 for the request.
/// assert_eq!(LambdaPrices::default().cost_picodollars(&usage), 16_666_700 + 200_000);
///
/// // Another sheet: Lambda's figures with a 1 µs rounding and free egress.
/// let sheet = LambdaPrices::default().with_rounding_us(1).with_egress_per_gib_picodollars(0);
/// assert_eq!(sheet.billed_duration_us(999_001), 999_001);
/// ```
///
/// `#[non_exhaustive]`: start from [`LambdaPrices::default`] and change
/// figures with the `with_*` methods (one for every field), so that a
/// price component added later keeps its default in code built this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct LambdaPrices {
    /// The fee per invocation billed (picodollars); 200,000 ($0.20 per
    /// million requests) by default.
    pub per_request_picodollars: u64,
    /// Memory's price per GiB of `memory_bytes` per second of billed
    /// duration (picodollars); 16,666,700 by default.
    pub per_gib_second_picodollars: u64,
    /// Scratch below this is free (bytes); 512 MiB by default.
    pub scratch_free_bytes: u64,
    /// Scratch's price above the free allowance, per GiB per second of
    /// billed duration (picodollars); 30,900 by default.
    pub scratch_per_gib_second_picodollars: u64,
    /// The price of a GiB of request payload (picodollars); 0 by default,
    /// as data in is free on AWS.
    pub ingress_per_gib_picodollars: u64,
    /// The price of a GiB of response sent (picodollars); 90,000,000,000
    /// ($0.09 per GB out to the internet) by default.
    pub egress_per_gib_picodollars: u64,
    /// Duration is rounded up to a multiple of this (µs; 1 ms on Lambda; 0
    /// counts as 1).
    pub rounding_us: u64,
    /// The price of a floor container's memory per GiB-second it is held
    /// (picodollars, spec R164); 4,166,700 by default ($0.0000041667 per
    /// GB-second of provisioned concurrency).
    #[serde(default = "provisioned_default")]
    pub provisioned_per_gib_second_picodollars: u64,
    /// Memory's price per GiB-second of billed duration for an invocation
    /// on a floor container, in place of `per_gib_second_picodollars`
    /// (picodollars); 9,722,200 by default ($0.0000097222 per GB-second).
    #[serde(default = "provisioned_duration_default")]
    pub provisioned_duration_per_gib_second_picodollars: u64,
}

fn provisioned_default() -> u64 {
    LambdaPrices::default().provisioned_per_gib_second_picodollars
}

fn provisioned_duration_default() -> u64 {
    LambdaPrices::default().provisioned_duration_per_gib_second_picodollars
}

impl Default for LambdaPrices {
    /// AWS Lambda's public prices, x86, us-east-1, first tier (spec R104).
    fn default() -> Self {
        LambdaPrices {
            per_request_picodollars: 200_000,
            per_gib_second_picodollars: 16_666_700,
            scratch_free_bytes: 512 << 20,
            scratch_per_gib_second_picodollars: 30_900,
            ingress_per_gib_picodollars: 0,
            egress_per_gib_picodollars: 90_000_000_000,
            rounding_us: 1_000,
            provisioned_per_gib_second_picodollars: 4_166_700,
            provisioned_duration_per_gib_second_picodollars: 9_722_200,
        }
    }
}

const GIB: u128 = 1 << 30;
const US_PER_S: u128 = 1_000_000;

fn ceil_div(numerator: u128, denominator: u128) -> u128 {
    // A u128 division is a library call several times the cost of a u64
    // one, and billing runs once per invocation; most numerators fit.
    match (u64::try_from(numerator), u64::try_from(denominator)) {
        (Ok(n), Ok(d)) => u128::from(n.div_ceil(d)),
        _ => numerator.div_ceil(denominator),
    }
}

/// `a × b × c`, saturating at `u128::MAX`: custom prices are not bounded, and
/// a saturated component makes the total saturate at `u64::MAX`.
fn product(a: u64, b: u64, c: u64) -> u128 {
    u128::from(a)
        .saturating_mul(u128::from(b))
        .saturating_mul(u128::from(c))
}

impl LambdaPrices {
    /// With the fee per invocation billed (picodollars) in place of the figure there was.
    pub fn with_per_request_picodollars(mut self, per_request_picodollars: u64) -> LambdaPrices {
        self.per_request_picodollars = per_request_picodollars;
        self
    }

    /// With memory's price per GiB-second of billed duration (picodollars) in place of the figure there was.
    pub fn with_per_gib_second_picodollars(
        mut self,
        per_gib_second_picodollars: u64,
    ) -> LambdaPrices {
        self.per_gib_second_picodollars = per_gib_second_picodollars;
        self
    }

    /// With the free scratch allowance (bytes) in place of the figure there was.
    pub fn with_scratch_free_bytes(mut self, scratch_free_bytes: u64) -> LambdaPrices {
        self.scratch_free_bytes = scratch_free_bytes;
        self
    }

    /// With scratch's price above the allowance per GiB-second (picodollars) in place of the figure there was.
    pub fn with_scratch_per_gib_second_picodollars(
        mut self,
        scratch_per_gib_second_picodollars: u64,
    ) -> LambdaPrices {
        self.scratch_per_gib_second_picodollars = scratch_per_gib_second_picodollars;
        self
    }

    /// With the price of a GiB of request payload (picodollars) in place of the figure there was.
    pub fn with_ingress_per_gib_picodollars(
        mut self,
        ingress_per_gib_picodollars: u64,
    ) -> LambdaPrices {
        self.ingress_per_gib_picodollars = ingress_per_gib_picodollars;
        self
    }

    /// With the price of a GiB of response sent (picodollars) in place of the figure there was.
    pub fn with_egress_per_gib_picodollars(
        mut self,
        egress_per_gib_picodollars: u64,
    ) -> LambdaPrices {
        self.egress_per_gib_picodollars = egress_per_gib_picodollars;
        self
    }

    /// With the duration rounding (µs; 0 counts as 1) in place of the figure there was.
    pub fn with_rounding_us(mut self, rounding_us: u64) -> LambdaPrices {
        self.rounding_us = rounding_us;
        self
    }

    /// With the provisioned-concurrency price per GiB-second held
    /// (picodollars) in place of the figure there was.
    pub fn with_provisioned_per_gib_second_picodollars(
        mut self,
        provisioned_per_gib_second_picodollars: u64,
    ) -> LambdaPrices {
        self.provisioned_per_gib_second_picodollars = provisioned_per_gib_second_picodollars;
        self
    }

    /// With the duration price per GiB-second of an invocation on a floor
    /// container (picodollars) in place of the figure there was.
    pub fn with_provisioned_duration_per_gib_second_picodollars(
        mut self,
        provisioned_duration_per_gib_second_picodollars: u64,
    ) -> LambdaPrices {
        self.provisioned_duration_per_gib_second_picodollars =
            provisioned_duration_per_gib_second_picodollars;
        self
    }

    /// What holding floor containers for `floor_byte_us` (memory bytes ×
    /// µs, `Metrics::floor_byte_us`) costs, in picodollars (spec R164):
    /// `ceil(floor_byte_us × provisioned_per_gib_second_picodollars /
    /// (GiB × 10^6))`, saturating at `u128::MAX`. One rounding for the
    /// whole integral, so it is exact.
    ///
    /// ```
    /// use coldstart_core::{LambdaPrices, GIB};
    ///
    /// // 1 GiB held for one hour: $0.0000041667 × 3,600 = $0.01500012.
    /// let byte_us = u128::from(GIB) * 3_600_000_000;
    /// assert_eq!(LambdaPrices::default().provisioned_cost_picodollars(byte_us), 15_000_120_000);
    /// ```
    pub fn provisioned_cost_picodollars(&self, floor_byte_us: u128) -> u128 {
        floor_byte_us
            .saturating_mul(u128::from(self.provisioned_per_gib_second_picodollars))
            .div_ceil(GIB * US_PER_S)
    }

    /// The billed duration: `duration_us` rounded up to `rounding_us`.
    pub fn billed_duration_us(&self, duration_us: u64) -> u64 {
        let rounding = self.rounding_us.max(1);
        duration_us.div_ceil(rounding).saturating_mul(rounding)
    }

    /// What `usage` costs, in picodollars (spec R103): the request fee,
    /// plus memory and scratch over the billed duration, plus ingress and
    /// egress. Each component is rounded up to a whole picodollar, then
    /// summed; the sum saturates at `u64::MAX`. `usage.cold` is ignored;
    /// `usage.provisioned` prices memory at
    /// `provisioned_duration_per_gib_second_picodollars` (spec R164).
    pub fn cost_picodollars(&self, usage: &Usage) -> u64 {
        let billed_us = self.billed_duration_us(usage.duration_us);
        let memory_price = if usage.provisioned {
            self.provisioned_duration_per_gib_second_picodollars
        } else {
            self.per_gib_second_picodollars
        };
        let memory = ceil_div(
            product(usage.memory_bytes, billed_us, memory_price),
            GIB * US_PER_S,
        );
        let scratch_billed = usage.scratch_bytes.saturating_sub(self.scratch_free_bytes);
        let scratch = ceil_div(
            product(
                scratch_billed,
                billed_us,
                self.scratch_per_gib_second_picodollars,
            ),
            GIB * US_PER_S,
        );
        let ingress = ceil_div(
            product(usage.ingress_bytes, self.ingress_per_gib_picodollars, 1),
            GIB,
        );
        let egress = ceil_div(
            product(usage.egress_bytes, self.egress_per_gib_picodollars, 1),
            GIB,
        );
        let total = u128::from(self.per_request_picodollars)
            .saturating_add(memory)
            .saturating_add(scratch)
            .saturating_add(ingress)
            .saturating_add(egress);
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

// ---------------------------------------------------------------------------
// Cloud Run: billing by container instance time (spec R104a–R104d).

/// What a container instance used over its life, as the container billing
/// policy sees it when the container is removed (spec R104b).
///
/// `#[non_exhaustive]`: the core builds it; a test of a billing policy
/// builds one with [`ContainerUsage::new`] and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContainerUsage {
    /// The container removed.
    pub container: ContainerId,
    /// Its function.
    pub function: FunctionId,
    /// Its function's memory (bytes).
    pub memory_bytes: u64,
    /// Its life as an instance (µs): from the moment its cold-start
    /// overhead began to its removal; 0 if it was removed before its image
    /// reached the host (it never started).
    pub instance_us: u64,
    /// The part of `instance_us` when it was not idle: starting, or holding
    /// at least one invocation (invocations that overlap count once).
    pub active_us: u64,
}

impl ContainerUsage {
    /// A container of `function` with `memory_bytes`, alive for
    /// `instance_us` of which `active_us` not idle.
    pub fn new(
        container: ContainerId,
        function: FunctionId,
        memory_bytes: u64,
        instance_us: u64,
        active_us: u64,
    ) -> ContainerUsage {
        ContainerUsage {
            container,
            function,
            memory_bytes,
            instance_us,
            active_us,
        }
    }

    /// This container, in place of what there was.
    pub fn with_container(mut self, container: ContainerId) -> ContainerUsage {
        self.container = container;
        self
    }

    /// This function, in place of what there was.
    pub fn with_function(mut self, function: FunctionId) -> ContainerUsage {
        self.function = function;
        self
    }

    /// This memory (bytes), in place of what there was.
    pub fn with_memory_bytes(mut self, memory_bytes: u64) -> ContainerUsage {
        self.memory_bytes = memory_bytes;
        self
    }

    /// This instance time (µs), in place of what there was.
    pub fn with_instance_us(mut self, instance_us: u64) -> ContainerUsage {
        self.instance_us = instance_us;
        self
    }

    /// This active time (µs), in place of what there was.
    pub fn with_active_us(mut self, active_us: u64) -> ContainerUsage {
        self.active_us = active_us;
        self
    }
}

/// The vCPUs a Cloud Run instance of `memory_bytes` is billed for, in
/// thousandths of a vCPU (spec R104c): Cloud Run's minimum CPU for the
/// memory limit, which is also its default (1 vCPU) up to 4 GiB — 1,000 up
/// to 4 GiB, 2,000 up to 8 GiB, 4,000 up to 16 GiB, 6,000 up to 24 GiB,
/// and 8,000 above (Cloud Run's maximum, 32 GiB, needs 8; more memory than
/// Cloud Run allows is billed as 8 too).
///
/// ```
/// use coldstart_core::billing::cloud_run_millivcpus;
/// use coldstart_core::GIB;
///
/// assert_eq!(cloud_run_millivcpus(512 << 20), 1_000);
/// assert_eq!(cloud_run_millivcpus(4 * GIB), 1_000);
/// assert_eq!(cloud_run_millivcpus(4 * GIB + 1), 2_000);
/// assert_eq!(cloud_run_millivcpus(32 * GIB), 8_000);
/// ```
pub fn cloud_run_millivcpus(memory_bytes: u64) -> u64 {
    const GIB_U64: u64 = 1 << 30;
    match memory_bytes {
        m if m <= 4 * GIB_U64 => 1_000,
        m if m <= 8 * GIB_U64 => 2_000,
        m if m <= 16 * GIB_U64 => 4_000,
        m if m <= 24 * GIB_U64 => 6_000,
        _ => 8_000,
    }
}

/// A price sheet in Cloud Run's shape (spec R104a–R104d): a container
/// instance's time by the vCPU-second (its vCPUs: [`cloud_run_millivcpus`])
/// and the GiB-second, rounded up to `rounding_us` per instance; a fee per
/// request and transfers by the GiB per invocation. The two defaults are
/// Cloud Run's tier-1 list prices for services:
/// [`CloudRunPrices::instance_based`] and [`CloudRunPrices::request_based`].
///
/// ```
/// use coldstart_core::{CloudRunPrices, GIB};
///
/// // 1 GiB and 1 vCPU for 1.25 s, billed as 1.3 s:
/// // 1.3 × $0.000018 + 1.3 × $0.000002.
/// let sheet = CloudRunPrices::instance_based();
/// assert_eq!(sheet.instance_cost_picodollars(GIB, 1_250_000), 23_400_000 + 2_600_000);
/// ```
///
/// `#[non_exhaustive]`: start from one of the two defaults and change
/// figures with the `with_*` methods (one for every field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct CloudRunPrices {
    /// CPU's price per vCPU-second of billed instance time (picodollars).
    pub per_vcpu_second_picodollars: u64,
    /// Memory's price per GiB-second of billed instance time (picodollars).
    pub per_gib_second_picodollars: u64,
    /// The fee per invocation billed (picodollars).
    pub per_request_picodollars: u64,
    /// The price of a GiB of request payload (picodollars); 0 (data in is
    /// free).
    pub ingress_per_gib_picodollars: u64,
    /// The price of a GiB of response sent (picodollars); 120,000,000,000
    /// ($0.12 per GiB out to the internet, Premium Tier, first TiB).
    pub egress_per_gib_picodollars: u64,
    /// An instance's billed time is rounded up to a multiple of this (µs;
    /// 100 ms on Cloud Run; 0 counts as 1).
    pub rounding_us: u64,
}

impl CloudRunPrices {
    /// Instance-based billing, tier 1 (spec R104d): $0.000018 per
    /// vCPU-second, $0.000002 per GiB-second, no request fee.
    pub fn instance_based() -> CloudRunPrices {
        CloudRunPrices {
            per_vcpu_second_picodollars: 18_000_000,
            per_gib_second_picodollars: 2_000_000,
            per_request_picodollars: 0,
            ingress_per_gib_picodollars: 0,
            egress_per_gib_picodollars: 120_000_000_000,
            rounding_us: 100_000,
        }
    }

    /// Request-based billing, tier 1 (spec R104d): $0.000024 per
    /// vCPU-second, $0.0000025 per GiB-second, $0.40 per million requests.
    pub fn request_based() -> CloudRunPrices {
        CloudRunPrices {
            per_vcpu_second_picodollars: 24_000_000,
            per_gib_second_picodollars: 2_500_000,
            per_request_picodollars: 400_000,
            ..CloudRunPrices::instance_based()
        }
    }

    /// With CPU's price per vCPU-second (picodollars) in place of the figure there was.
    pub fn with_per_vcpu_second_picodollars(
        mut self,
        per_vcpu_second_picodollars: u64,
    ) -> CloudRunPrices {
        self.per_vcpu_second_picodollars = per_vcpu_second_picodollars;
        self
    }

    /// With memory's price per GiB-second (picodollars) in place of the figure there was.
    pub fn with_per_gib_second_picodollars(
        mut self,
        per_gib_second_picodollars: u64,
    ) -> CloudRunPrices {
        self.per_gib_second_picodollars = per_gib_second_picodollars;
        self
    }

    /// With the fee per invocation (picodollars) in place of the figure there was.
    pub fn with_per_request_picodollars(mut self, per_request_picodollars: u64) -> CloudRunPrices {
        self.per_request_picodollars = per_request_picodollars;
        self
    }

    /// With the price of a GiB of request payload (picodollars) in place of the figure there was.
    pub fn with_ingress_per_gib_picodollars(
        mut self,
        ingress_per_gib_picodollars: u64,
    ) -> CloudRunPrices {
        self.ingress_per_gib_picodollars = ingress_per_gib_picodollars;
        self
    }

    /// With the price of a GiB of response sent (picodollars) in place of the figure there was.
    pub fn with_egress_per_gib_picodollars(
        mut self,
        egress_per_gib_picodollars: u64,
    ) -> CloudRunPrices {
        self.egress_per_gib_picodollars = egress_per_gib_picodollars;
        self
    }

    /// With the rounding of an instance's time (µs; 0 counts as 1) in place of the figure there was.
    pub fn with_rounding_us(mut self, rounding_us: u64) -> CloudRunPrices {
        self.rounding_us = rounding_us;
        self
    }

    /// The billed time: `time_us` rounded up to `rounding_us`.
    pub fn billed_time_us(&self, time_us: u64) -> u64 {
        let rounding = self.rounding_us.max(1);
        time_us.div_ceil(rounding).saturating_mul(rounding)
    }

    /// What an invocation costs on its own (spec R104b): the request fee
    /// plus ingress and egress, each component rounded up to a whole
    /// picodollar; its time is billed with its container's.
    pub fn invocation_cost_picodollars(&self, usage: &Usage) -> u64 {
        let ingress = ceil_div(
            product(usage.ingress_bytes, self.ingress_per_gib_picodollars, 1),
            GIB,
        );
        let egress = ceil_div(
            product(usage.egress_bytes, self.egress_per_gib_picodollars, 1),
            GIB,
        );
        let total = u128::from(self.per_request_picodollars)
            .saturating_add(ingress)
            .saturating_add(egress);
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// What `time_us` of an instance of `memory_bytes` costs (spec R104b):
    /// the time rounded up to `rounding_us`, then CPU (by
    /// [`cloud_run_millivcpus`]) and memory, each rounded up to a whole
    /// picodollar; saturating at `u64::MAX`.
    pub fn instance_cost_picodollars(&self, memory_bytes: u64, time_us: u64) -> u64 {
        let billed_us = self.billed_time_us(time_us);
        let cpu = ceil_div(
            product(
                cloud_run_millivcpus(memory_bytes),
                billed_us,
                self.per_vcpu_second_picodollars,
            ),
            1_000 * US_PER_S,
        );
        let memory = ceil_div(
            product(memory_bytes, billed_us, self.per_gib_second_picodollars),
            GIB * US_PER_S,
        );
        u64::try_from(cpu.saturating_add(memory)).unwrap_or(u64::MAX)
    }
}

/// Which price model a [`Builtin`](crate::Builtin) bills by (spec R104a).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Billing {
    /// AWS Lambda's: each invocation by its own duration and memory, by the
    /// `Builtin`'s [`LambdaPrices`] (spec R103); containers are not billed.
    #[default]
    Lambda,
    /// Cloud Run's instance-based billing: each container instance for its
    /// whole life (`ContainerUsage::instance_us`), each invocation for its
    /// request fee and transfers.
    CloudRunInstance(CloudRunPrices),
    /// Cloud Run's request-based billing: each container instance for the
    /// time it starts or holds at least one invocation
    /// (`ContainerUsage::active_us`), each invocation for its request fee
    /// and transfers.
    CloudRunRequest(CloudRunPrices),
}

impl Billing {
    /// Cloud Run's instance-based billing at its tier-1 prices.
    pub fn cloud_run_instance() -> Billing {
        Billing::CloudRunInstance(CloudRunPrices::instance_based())
    }

    /// Cloud Run's request-based billing at its tier-1 prices.
    pub fn cloud_run_request() -> Billing {
        Billing::CloudRunRequest(CloudRunPrices::request_based())
    }

    /// What an invocation costs under this model (spec R103, R104b), with
    /// `lambda` the Lambda sheet.
    pub fn invocation_cost_picodollars(&self, lambda: &LambdaPrices, usage: &Usage) -> u64 {
        match self {
            Billing::Lambda => lambda.cost_picodollars(usage),
            Billing::CloudRunInstance(prices) | Billing::CloudRunRequest(prices) => {
                prices.invocation_cost_picodollars(usage)
            }
        }
    }

    /// What a removed container costs under this model (spec R104b), or
    /// `None` if the model does not bill containers (Lambda's).
    pub fn container_cost_picodollars(&self, usage: &ContainerUsage) -> Option<u64> {
        match self {
            Billing::Lambda => None,
            Billing::CloudRunInstance(prices) => {
                Some(prices.instance_cost_picodollars(usage.memory_bytes, usage.instance_us))
            }
            Billing::CloudRunRequest(prices) => {
                Some(prices.instance_cost_picodollars(usage.memory_bytes, usage.active_us))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each builder sets its own figure and only it: a builder that kept
    /// the default (or set another field) would bill a custom sheet wrong.
    #[test]
    fn every_price_builder_sets_its_own_figure() {
        let lambda = LambdaPrices::default()
            .with_per_request_picodollars(1)
            .with_per_gib_second_picodollars(2)
            .with_scratch_free_bytes(3)
            .with_scratch_per_gib_second_picodollars(4)
            .with_ingress_per_gib_picodollars(5)
            .with_egress_per_gib_picodollars(6)
            .with_rounding_us(7)
            .with_provisioned_per_gib_second_picodollars(8)
            .with_provisioned_duration_per_gib_second_picodollars(9);
        assert_eq!(
            [
                lambda.per_request_picodollars,
                lambda.per_gib_second_picodollars,
                lambda.scratch_free_bytes,
                lambda.scratch_per_gib_second_picodollars,
                lambda.ingress_per_gib_picodollars,
                lambda.egress_per_gib_picodollars,
                lambda.rounding_us,
                lambda.provisioned_per_gib_second_picodollars,
                lambda.provisioned_duration_per_gib_second_picodollars,
            ],
            [1, 2, 3, 4, 5, 6, 7, 8, 9]
        );
        let cloud_run = CloudRunPrices::instance_based()
            .with_per_vcpu_second_picodollars(1)
            .with_per_gib_second_picodollars(2)
            .with_per_request_picodollars(3)
            .with_ingress_per_gib_picodollars(4)
            .with_egress_per_gib_picodollars(5)
            .with_rounding_us(6);
        assert_eq!(
            [
                cloud_run.per_vcpu_second_picodollars,
                cloud_run.per_gib_second_picodollars,
                cloud_run.per_request_picodollars,
                cloud_run.ingress_per_gib_picodollars,
                cloud_run.egress_per_gib_picodollars,
                cloud_run.rounding_us,
            ],
            [1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn one_gib_for_one_second_costs_the_list_price_plus_a_request() {
        let prices = LambdaPrices::default();
        let usage = Usage {
            function: FunctionId::from_bits(0),
            time_limit_us: 60_000_000,
            memory_bytes: 1 << 30,
            scratch_bytes: 512 << 20,
            duration_us: 1_000_000,
            ingress_bytes: 0,
            egress_bytes: 0,
            cold: false,
            provisioned: false,
        };
        assert_eq!(prices.cost_picodollars(&usage), 16_666_700 + 200_000);
        let provisioned = usage.with_provisioned(true);
        assert_eq!(prices.cost_picodollars(&provisioned), 9_722_200 + 200_000);
    }

    #[test]
    fn extreme_custom_prices_saturate_instead_of_overflowing() {
        let prices = LambdaPrices {
            per_request_picodollars: u64::MAX,
            per_gib_second_picodollars: u64::MAX,
            scratch_free_bytes: 0,
            scratch_per_gib_second_picodollars: u64::MAX,
            ingress_per_gib_picodollars: u64::MAX,
            egress_per_gib_picodollars: u64::MAX,
            rounding_us: u64::MAX,
            provisioned_per_gib_second_picodollars: u64::MAX,
            provisioned_duration_per_gib_second_picodollars: u64::MAX,
        };
        let usage = Usage {
            function: FunctionId::from_bits(0),
            time_limit_us: 60_000_000,
            memory_bytes: u64::MAX,
            scratch_bytes: u64::MAX,
            duration_us: u64::MAX,
            ingress_bytes: u64::MAX,
            egress_bytes: u64::MAX,
            cold: true,
            provisioned: false,
        };
        assert_eq!(prices.cost_picodollars(&usage), u64::MAX);
        assert_eq!(
            prices.provisioned_cost_picodollars(u128::MAX),
            u128::MAX / (GIB * US_PER_S) + 1
        );
    }

    #[test]
    fn the_floor_is_billed_once_over_its_whole_integral() {
        let prices = LambdaPrices::default();
        // 128 MiB for 1 µs: 4,166,700 / 8 / 10^6 = 0.52 pd, rounded up once.
        assert_eq!(prices.provisioned_cost_picodollars(128 << 20), 1);
        assert_eq!(prices.provisioned_cost_picodollars(0), 0);
        // 1 GiB-second exactly is the list price.
        assert_eq!(
            prices.provisioned_cost_picodollars(GIB * US_PER_S),
            4_166_700
        );
        // Two GiB-seconds and one byte-µs: one rounding, not two.
        assert_eq!(
            prices.provisioned_cost_picodollars(2 * GIB * US_PER_S + 1),
            2 * 4_166_700 + 1
        );
    }

    #[test]
    fn ceil_div_rounds_up_on_both_sides_of_the_u64_boundary() {
        let max = u128::from(u64::MAX);
        for (numerator, denominator) in [
            (0, 7),
            (14, 7),
            (15, 7),
            (max, 1 << 30),
            (max - 1, 3),
            (max + 1, 1 << 30),
            (max * 5 + 3, 5),
            (10, max + 1),
        ] {
            let expected = numerator / denominator + u128::from(numerator % denominator != 0);
            assert_eq!(
                ceil_div(numerator, denominator),
                expected,
                "{numerator} / {denominator}"
            );
        }
    }

    #[test]
    fn duration_rounds_up_to_the_millisecond() {
        let prices = LambdaPrices::default();
        assert_eq!(prices.billed_duration_us(0), 0);
        assert_eq!(prices.billed_duration_us(1), 1_000);
        assert_eq!(prices.billed_duration_us(1_000), 1_000);
        assert_eq!(prices.billed_duration_us(1_001), 2_000);
    }

    #[test]
    fn scratch_above_the_free_allowance_and_egress_are_billed() {
        let prices = LambdaPrices::default();
        let usage = Usage {
            function: FunctionId::from_bits(0),
            time_limit_us: 60_000_000,
            memory_bytes: 128 << 20,
            scratch_bytes: (512 << 20) + (1 << 30),
            duration_us: 2_000_000,
            ingress_bytes: 1 << 30,
            egress_bytes: 1 << 29,
            cold: true,
            provisioned: false,
        };
        // memory: 1/8 GiB × 2 s × 16,666,700 = 4,166,675
        // scratch: 1 GiB × 2 s × 30,900 = 61,800
        // egress: 1/2 GiB × 90,000,000,000 = 45,000,000,000
        assert_eq!(
            prices.cost_picodollars(&usage),
            200_000 + 4_166_675 + 61_800 + 45_000_000_000
        );
    }
    #[test]
    fn cloud_run_bills_an_instance_by_its_rounded_time_vcpus_and_memory() {
        let instance = CloudRunPrices::instance_based();
        // 512 MiB (1 vCPU) for 100,001 µs, billed as 200 ms:
        // CPU 1 × 0.2 s × 18,000,000 = 3,600,000; memory 0.5 × 0.2 × 2,000,000 = 200,000.
        assert_eq!(
            instance.instance_cost_picodollars(512 << 20, 100_001),
            3_800_000
        );
        assert_eq!(instance.instance_cost_picodollars(512 << 20, 0), 0);
        // 6 GiB needs 2 vCPUs: 1 s × (2 × 18,000,000 + 6 × 2,000,000).
        assert_eq!(
            instance.instance_cost_picodollars(6 << 30, 1_000_000),
            48_000_000
        );
        let request = CloudRunPrices::request_based();
        // 1 GiB for exactly 1 s: 24,000,000 + 2,500,000.
        assert_eq!(
            request.instance_cost_picodollars(1 << 30, 1_000_000),
            26_500_000
        );
        // A sliver of a picodollar of memory rounds up to one: 1 byte for 100 ms.
        assert_eq!(
            request
                .with_per_vcpu_second_picodollars(0)
                .instance_cost_picodollars(1, 1),
            1
        );
    }

    #[test]
    fn cloud_run_bills_an_invocation_its_request_fee_and_transfers_only() {
        let usage = Usage::new(FunctionId::from_bits(0), 60_000_000, 1 << 30, 5_000_000)
            .with_ingress_bytes(1 << 30)
            .with_egress_bytes(1 << 29);
        // Egress: half a GiB at $0.12.
        assert_eq!(
            CloudRunPrices::instance_based().invocation_cost_picodollars(&usage),
            60_000_000_000
        );
        assert_eq!(
            CloudRunPrices::request_based().invocation_cost_picodollars(&usage),
            400_000 + 60_000_000_000
        );
    }

    #[test]
    fn the_billing_model_chooses_which_time_a_container_is_billed_for() {
        let usage = ContainerUsage::new(
            ContainerId::from_bits(0),
            FunctionId::from_bits(0),
            1 << 30,
            10_000_000,
            1_000_000,
        );
        assert_eq!(Billing::Lambda.container_cost_picodollars(&usage), None);
        assert_eq!(
            Billing::cloud_run_instance().container_cost_picodollars(&usage),
            Some(10 * 20_000_000)
        );
        assert_eq!(
            Billing::cloud_run_request().container_cost_picodollars(&usage),
            Some(26_500_000)
        );
        let lambda = LambdaPrices::default();
        let invocation = Usage::new(FunctionId::from_bits(0), 60_000_000, 1 << 30, 1_000_000);
        assert_eq!(
            Billing::Lambda.invocation_cost_picodollars(&lambda, &invocation),
            16_666_700 + 200_000
        );
        assert_eq!(
            Billing::cloud_run_request().invocation_cost_picodollars(&lambda, &invocation),
            400_000
        );
    }

    #[test]
    fn cloud_run_millivcpus_follow_the_minimum_cpu_table_at_its_boundaries() {
        let gib = 1u64 << 30;
        for (memory_bytes, millivcpus) in [
            (1, 1_000),
            (4 * gib, 1_000),
            (4 * gib + 1, 2_000),
            (8 * gib, 2_000),
            (8 * gib + 1, 4_000),
            (16 * gib, 4_000),
            (16 * gib + 1, 6_000),
            (24 * gib, 6_000),
            (24 * gib + 1, 8_000),
            (u64::MAX, 8_000),
        ] {
            assert_eq!(
                cloud_run_millivcpus(memory_bytes),
                millivcpus,
                "{memory_bytes}"
            );
        }
    }

    #[test]
    fn extreme_cloud_run_prices_saturate_instead_of_overflowing() {
        let prices = CloudRunPrices::request_based()
            .with_per_vcpu_second_picodollars(u64::MAX)
            .with_per_gib_second_picodollars(u64::MAX)
            .with_per_request_picodollars(u64::MAX)
            .with_egress_per_gib_picodollars(u64::MAX)
            .with_rounding_us(u64::MAX);
        assert_eq!(
            prices.instance_cost_picodollars(u64::MAX, u64::MAX),
            u64::MAX
        );
        let usage =
            Usage::new(FunctionId::from_bits(0), 1, u64::MAX, u64::MAX).with_egress_bytes(u64::MAX);
        assert_eq!(prices.invocation_cost_picodollars(&usage), u64::MAX);
        assert_eq!(prices.billed_time_us(1), u64::MAX);
    }
}
