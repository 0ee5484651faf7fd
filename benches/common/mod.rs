//! Shared by the benchmarks: a synthetic workload whose size along one axis
//! (hosts, functions, waiting invocations, cached images) is a parameter,
//! and which keeps the provider in a steady state for as long as it is fed.
//!
//! It is its own small generator rather than `coldstart::workload`, because
//! that one is capped at 2^16 functions (the scaling runs need 10^5) and
//! because a bench wants an endless stream, drawn lazily.

#![allow(dead_code)]

use coldstart::FunctionDef;
use coldstart::{
    Builtin, Code, Command, Config, Events, FunctionId, HostSpec, ImageId, Input, MainStorageSpec,
    Policies, Pressure, Provider, MIB,
};

/// The size of a scaling run. Every host is alike; every function runs
/// from image `function % images`, with the same memory and scratch.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub hosts: u32,
    pub slots_per_host: u32,
    pub functions: u32,
    pub images: u32,
    pub image_bytes: u64,
    /// Main storage holds this many images at once (fewer than `images`
    /// means evictions from it).
    pub main_storage_images: u32,
    pub pressure: Pressure,
    /// Offered load: busy containers wanted ÷ slots, in percent. Above 100
    /// the provider is overloaded (rejections, or a full queue).
    pub load_percent: u64,
    pub keep_alive_us: u64,
    /// Mean of the exponential run time.
    pub run_mean_us: u64,
}

pub const FUNCTION_MEMORY_BYTES: u64 = 256 * MIB;
pub const FUNCTION_SCRATCH_BYTES: u64 = 64 * MIB;

impl Scale {
    /// The baseline every axis varies one parameter of: 100 hosts of 8
    /// slots, 100 functions on 10 images, offered load 90%, 2 s keep-alive,
    /// 1 s mean runs, rejection under pressure.
    pub fn baseline() -> Scale {
        Scale {
            hosts: 100,
            slots_per_host: 8,
            functions: 100,
            images: 10,
            image_bytes: MIB,
            main_storage_images: 10,
            pressure: Pressure::Reject,
            load_percent: 90,
            keep_alive_us: 2_000_000,
            run_mean_us: 1_000_000,
        }
    }

    pub fn config(&self) -> Config {
        let host = HostSpec::new(
            // RAM for twice the slots: slots bind, as on Lambda-like hosts.
            2 * u64::from(self.slots_per_host) * FUNCTION_MEMORY_BYTES,
            self.slots_per_host,
            // Room for every image plus every slot's scratch: host caches
            // hold all the images.
            u64::from(self.images) * self.image_bytes
                + u64::from(self.slots_per_host) * FUNCTION_SCRATCH_BYTES * 2,
            10_000_000_000,
        );
        let main_storage = MainStorageSpec::new(
            u64::from(self.main_storage_images) * self.image_bytes,
            1_000_000_000,
        );
        Config::homogeneous(main_storage, host, self.hosts)
            .with_pressure(self.pressure)
            // Retention reaps the oldest records: memory stays bounded.
            .with_terminal_records_max(Some(10_000))
    }

    pub fn policies(&self) -> Builtin {
        Builtin {
            keep_alive_us: self.keep_alive_us,
            ..Builtin::default()
        }
    }

    /// Mean gap between arrivals for the offered load:
    /// λ = load × slots ÷ run mean.
    pub fn interarrival_mean_us(&self) -> u64 {
        let slots = u64::from(self.hosts) * u64::from(self.slots_per_host);
        (self.run_mean_us * 100 / (self.load_percent * slots)).max(1)
    }

    /// A provider with every image and function registered.
    pub fn provider(&self) -> Provider {
        self.provider_with(self.policies())
    }

    /// As `provider`, run by `policies`.
    pub fn provider_with<P: Policies>(&self, policies: P) -> Provider<P> {
        let mut provider = Provider::new(self.config(), policies).expect("a valid configuration");
        let mut out = Events::new();
        for _ in 0..self.images {
            let input = Input {
                at_us: 0,
                command: Command::RegisterImage {
                    size_bytes: self.image_bytes,
                },
            };
            provider.apply_into(&input, &mut out).expect("registers");
        }
        for function in 0..self.functions {
            let input = Input {
                at_us: 0,
                command: Command::RegisterFunction(
                    FunctionDef::new(
                        ImageId::from_bits(u64::from(function % self.images)),
                        FUNCTION_MEMORY_BYTES,
                        60_000_000,
                    )
                    .with_scratch_bytes(FUNCTION_SCRATCH_BYTES),
                ),
            };
            provider.apply_into(&input, &mut out).expect("registers");
        }
        provider
    }

    pub fn arrivals(&self, seed: u64) -> Arrivals {
        Arrivals {
            state: seed,
            now_us: 0,
            interarrival_mean_us: self.interarrival_mean_us(),
            run_mean_us: self.run_mean_us,
            functions: self.functions,
            next_output: 0,
        }
    }

    /// A registered provider fed `warm_up_inputs` arrivals, and the stream
    /// that continues from there.
    pub fn steady(&self, warm_up_inputs: u64) -> (Provider, Arrivals) {
        let mut provider = self.provider();
        let mut arrivals = self.arrivals(7);
        let mut out = Events::new();
        for _ in 0..warm_up_inputs {
            let input = arrivals.next_input();
            provider.apply_into(&input, &mut out).expect("valid input");
        }
        (provider, arrivals)
    }
}

/// An endless stream of `Invoke` inputs: Poisson arrivals, a uniformly
/// chosen function, exponential run times, success.
#[derive(Clone, Debug)]
pub struct Arrivals {
    state: u64,
    now_us: u64,
    interarrival_mean_us: u64,
    run_mean_us: u64,
    functions: u32,
    next_output: u64,
}

impl Arrivals {
    /// SplitMix64: a fixed, fast generator; a bench needs no more.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn exponential(&mut self, mean: u64) -> u64 {
        // 53 random bits as a uniform in (0, 1].
        let unit = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        (-unit.ln() * mean as f64) as u64
    }

    pub fn next_input(&mut self) -> Input {
        self.now_us += self.exponential(self.interarrival_mean_us);
        let function = (self.next_u64() % u64::from(self.functions)) as u32;
        let run_us = self.exponential(self.run_mean_us);
        self.next_output += 1;
        Input {
            at_us: self.now_us,
            command: Command::Invoke {
                function: FunctionId::from_bits(u64::from(function)),
                code: Code::success(run_us, self.next_output),
                ingress_bytes: 0,
                egress_bytes: 0,
            },
        }
    }
}
