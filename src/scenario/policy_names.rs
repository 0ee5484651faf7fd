//! Built-in policies by name, for the command line (`simulate
//! --host-selection …`, `compare`). Each name parses to a policy and each
//! policy prints as a name that parses back to it; docs/policies.md says
//! what each does.

use crate::{Builtin, Config, HostSelection, HybridHistogram, ImageEviction, KeepAlivePolicy};

/// A keep-alive policy as named: its parameters that depend on the
/// configuration (greedy-dual's cold cost) are filled in by
/// [`PolicyChoice::builtin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAliveName {
    /// `fixed` (10 minutes) or `fixed:SECONDS`.
    /// `fixed` (10 minutes) or `fixed:SECONDS`.
    Fixed {
        /// How long an idle container is kept, in µs.
        keep_alive_us: u64,
    },
    /// `hybrid`: the hybrid histogram with the paper's parameters.
    Hybrid,
    /// `greedy-dual`: cold cost = the configuration's cold − warm start
    /// overhead; the 10-minute keep-alive stays as a bound.
    GreedyDual,
}

/// The policies of one run, as chosen on the command line.
/// `#[non_exhaustive]`: start from [`PolicyChoice::default`] and change it
/// with the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyChoice {
    /// The host-selection rule.
    pub host_selection: HostSelectionName,
    /// The keep-alive policy.
    pub keep_alive: KeepAliveName,
    /// The image eviction rule of the hosts' disks.
    pub image_eviction: ImageEviction,
}

/// A host-selection rule as named; `random` without a seed takes the run's
/// workload seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSelectionName {
    /// A rule with all its parameters.
    Rule(HostSelection),
    /// `random` without a seed: seeded with the run's workload seed.
    RandomFromRunSeed,
}

impl Default for PolicyChoice {
    fn default() -> Self {
        PolicyChoice {
            host_selection: HostSelectionName::Rule(HostSelection::RoomFirst),
            keep_alive: KeepAliveName::Fixed {
                keep_alive_us: crate::policy::DEFAULT_KEEP_ALIVE_US,
            },
            image_eviction: ImageEviction::Lru,
        }
    }
}

impl PolicyChoice {
    /// This host-selection rule, in place of the one there was.
    pub fn with_host_selection(mut self, host_selection: HostSelectionName) -> PolicyChoice {
        self.host_selection = host_selection;
        self
    }

    /// This keep-alive policy, in place of the one there was.
    pub fn with_keep_alive(mut self, keep_alive: KeepAliveName) -> PolicyChoice {
        self.keep_alive = keep_alive;
        self
    }

    /// This image eviction rule, in place of the one there was.
    pub fn with_image_eviction(mut self, image_eviction: ImageEviction) -> PolicyChoice {
        self.image_eviction = image_eviction;
        self
    }

    /// The policies for a run on `config` with workload seed `seed`.
    pub fn builtin(&self, config: &Config, seed: u64) -> Builtin {
        let host_selection = match self.host_selection {
            HostSelectionName::Rule(rule) => rule,
            HostSelectionName::RandomFromRunSeed => HostSelection::SeededRandom { seed },
        };
        let (keep_alive_policy, keep_alive_us) = match self.keep_alive {
            KeepAliveName::Fixed { keep_alive_us } => (KeepAlivePolicy::Fixed, keep_alive_us),
            KeepAliveName::Hybrid => (
                KeepAlivePolicy::HybridHistogram(HybridHistogram::PAPER),
                crate::policy::DEFAULT_KEEP_ALIVE_US,
            ),
            KeepAliveName::GreedyDual => (
                KeepAlivePolicy::GreedyDual {
                    cold_cost_us: config.cold_start_us.saturating_sub(config.warm_start_us),
                },
                crate::policy::DEFAULT_KEEP_ALIVE_US,
            ),
        };
        Builtin::default()
            .with_host_selection(host_selection)
            .with_keep_alive_policy(keep_alive_policy)
            .with_keep_alive_us(keep_alive_us)
            .with_image_eviction(self.image_eviction)
    }
}

/// Every host-selection name, for help texts.
pub const HOST_SELECTION_NAMES: &str =
    "room-first, first-fit, best-fit, image-locality, round-robin, \
least-loaded, random[:SEED], package-aware[:THRESHOLD_PERCENT] (80), home-invoker, \
consistent-hashing[:EPSILON_PERCENT] (25), least-cpu-loaded";
/// Every keep-alive policy name, for help texts.
pub const KEEP_ALIVE_NAMES: &str = "fixed[:SECONDS] (600), hybrid, greedy-dual";
/// Every image eviction name, for help texts.
pub const IMAGE_EVICTION_NAMES: &str = "lru, lfu, gdsf, kubelet-watermark[:HIGH:LOW] (85:80)";

/// Splits `name:parameter`; the parameter must be a decimal integer.
fn split(text: &str) -> Result<(&str, Option<u64>), String> {
    match text.split_once(':') {
        None => Ok((text, None)),
        Some((name, parameter)) => {
            parameter
                .parse()
                .map(|value| (name, Some(value)))
                .map_err(|_| {
                    format!(
                        "`{}` is not a whole number (in `{text}`)",
                        crate::files::echo(parameter)
                    )
                })
        }
    }
}

fn percent(value: Option<u64>, default: u32, text: &str) -> Result<u32, String> {
    match value {
        None => Ok(default),
        Some(value) if value <= 10_000 => Ok(value as u32),
        Some(_) => Err(format!(
            "the percentage in `{}` is above 10000",
            crate::files::echo(text)
        )),
    }
}

/// The host-selection rule `text` names (one of
/// [`HOST_SELECTION_NAMES`]), or a one-line message saying why it names
/// none. Parameters are whole numbers after a colon; a missing one takes
/// the default shown in the list.
///
/// ```
/// use coldstart::scenario::policy_names::{host_selection_name, parse_host_selection};
///
/// let rule = parse_host_selection("package-aware")?;
/// assert_eq!(host_selection_name(rule), "package-aware:80");
/// assert!(parse_host_selection("fastest").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_host_selection(text: &str) -> Result<HostSelectionName, String> {
    let (name, parameter) = split(text)?;
    let rule = match (name, parameter) {
        ("room-first", None) => HostSelection::RoomFirst,
        ("first-fit", None) => HostSelection::FirstFit,
        ("best-fit", None) => HostSelection::BestFit,
        ("image-locality", None) => HostSelection::ImageLocality,
        ("round-robin", None) => HostSelection::RoundRobin,
        ("least-loaded", None) => HostSelection::LeastLoaded,
        ("random", None) => return Ok(HostSelectionName::RandomFromRunSeed),
        ("random", Some(seed)) => HostSelection::SeededRandom { seed },
        ("package-aware", _) => HostSelection::PackageAware {
            load_threshold_percent: percent(parameter, 80, text)?,
        },
        ("home-invoker", None) => HostSelection::HomeInvoker,
        ("least-cpu-loaded", None) => HostSelection::LeastCpuLoaded,
        ("consistent-hashing", _) => HostSelection::BoundedConsistentHashing {
            epsilon_percent: percent(parameter, 25, text)?,
        },
        _ => {
            return Err(format!(
                "unknown host selection `{}`; one of: {HOST_SELECTION_NAMES}",
                crate::files::echo(text)
            ))
        }
    };
    Ok(HostSelectionName::Rule(rule))
}

/// The name of `rule`, with its parameters, which
/// [`parse_host_selection`] parses back to `rule`.
pub fn host_selection_name(rule: HostSelectionName) -> String {
    match rule {
        HostSelectionName::RandomFromRunSeed => "random".into(),
        HostSelectionName::Rule(rule) => match rule {
            HostSelection::RoomFirst => "room-first".into(),
            HostSelection::FirstFit => "first-fit".into(),
            HostSelection::BestFit => "best-fit".into(),
            HostSelection::ImageLocality => "image-locality".into(),
            HostSelection::RoundRobin => "round-robin".into(),
            HostSelection::LeastLoaded => "least-loaded".into(),
            HostSelection::SeededRandom { seed } => format!("random:{seed}"),
            HostSelection::PackageAware {
                load_threshold_percent,
            } => format!("package-aware:{load_threshold_percent}"),
            HostSelection::HomeInvoker => "home-invoker".into(),
            HostSelection::BoundedConsistentHashing { epsilon_percent } => {
                format!("consistent-hashing:{epsilon_percent}")
            }
            HostSelection::LeastCpuLoaded => "least-cpu-loaded".into(),
        },
    }
}

/// The keep-alive policy `text` names (one of [`KEEP_ALIVE_NAMES`]), or a
/// one-line message saying why it names none.
pub fn parse_keep_alive(text: &str) -> Result<KeepAliveName, String> {
    let (name, parameter) = split(text)?;
    match (name, parameter) {
        ("fixed", None) => Ok(KeepAliveName::Fixed {
            keep_alive_us: crate::policy::DEFAULT_KEEP_ALIVE_US,
        }),
        ("fixed", Some(seconds)) if seconds <= crate::limits::DURATION_MAX_US / 1_000_000 => {
            Ok(KeepAliveName::Fixed {
                keep_alive_us: seconds * 1_000_000,
            })
        }
        ("fixed", Some(_)) => Err(format!(
            "the keep-alive in `{}` is too long",
            crate::files::echo(text)
        )),
        ("hybrid", None) => Ok(KeepAliveName::Hybrid),
        ("greedy-dual", None) => Ok(KeepAliveName::GreedyDual),
        _ => Err(format!(
            "unknown keep-alive policy `{}`; one of: {KEEP_ALIVE_NAMES}",
            crate::files::echo(text)
        )),
    }
}

/// The name of `policy`, which [`parse_keep_alive`] parses back to it (a
/// fixed keep-alive in whole seconds).
pub fn keep_alive_name(policy: KeepAliveName) -> String {
    match policy {
        KeepAliveName::Fixed { keep_alive_us } => format!("fixed:{}", keep_alive_us / 1_000_000),
        KeepAliveName::Hybrid => "hybrid".into(),
        KeepAliveName::GreedyDual => "greedy-dual".into(),
    }
}

/// The image eviction rule `text` names (one of
/// [`IMAGE_EVICTION_NAMES`]; the kubelet's marks are percent of the disk,
/// low at most high), or a one-line message saying why it names none.
pub fn parse_image_eviction(text: &str) -> Result<ImageEviction, String> {
    match text {
        "lru" => return Ok(ImageEviction::Lru),
        "lfu" => return Ok(ImageEviction::Lfu),
        "gdsf" => return Ok(ImageEviction::Gdsf),
        "kubelet-watermark" => return Ok(ImageEviction::KUBELET),
        _ => {}
    }
    let marks = text
        .strip_prefix("kubelet-watermark:")
        .and_then(|marks| marks.split_once(':'));
    let Some((high, low)) = marks else {
        return Err(format!(
            "unknown image eviction `{}`; one of: {IMAGE_EVICTION_NAMES}",
            crate::files::echo(text)
        ));
    };
    let mark = |mark: &str| match mark.parse::<u32>() {
        Ok(value) if value <= 100 => Ok(value),
        Ok(_) => Err(format!(
            "the mark `{}` in `{text}` is above 100 (percent)",
            crate::files::echo(mark)
        )),
        Err(_) => Err(format!(
            "`{}` is not a whole number (in `{text}`)",
            crate::files::echo(mark)
        )),
    };
    let (high_percent, low_percent) = (mark(high)?, mark(low)?);
    if low_percent > high_percent {
        return Err(format!(
            "the low mark in `{}` is above the high mark (HIGH:LOW, percent of the disk)",
            crate::files::echo(text)
        ));
    }
    Ok(ImageEviction::KubeletWatermark {
        high_percent,
        low_percent,
    })
}

/// The name of `rule`, with its parameters, which
/// [`parse_image_eviction`] parses back to `rule`.
pub fn image_eviction_name(rule: ImageEviction) -> String {
    match rule {
        ImageEviction::Lru => "lru".into(),
        ImageEviction::Lfu => "lfu".into(),
        ImageEviction::Gdsf => "gdsf".into(),
        ImageEviction::KubeletWatermark {
            high_percent,
            low_percent,
        } => format!("kubelet-watermark:{high_percent}:{low_percent}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for text in [
            "room-first",
            "first-fit",
            "best-fit",
            "image-locality",
            "round-robin",
            "least-loaded",
            "random",
            "random:7",
            "package-aware:80",
            "home-invoker",
            "consistent-hashing:25",
        ] {
            let rule = parse_host_selection(text).expect(text);
            assert_eq!(host_selection_name(rule), text);
        }
        assert_eq!(
            parse_host_selection("package-aware"),
            parse_host_selection("package-aware:80")
        );
        for text in ["fixed:600", "fixed:0", "hybrid", "greedy-dual"] {
            assert_eq!(keep_alive_name(parse_keep_alive(text).expect(text)), text);
        }
        assert_eq!(parse_keep_alive("fixed"), parse_keep_alive("fixed:600"));
        for text in [
            "lru",
            "lfu",
            "gdsf",
            "kubelet-watermark:85:80",
            "kubelet-watermark:100:0",
        ] {
            let rule = parse_image_eviction(text).expect(text);
            assert_eq!(image_eviction_name(rule), text);
        }
        assert!(parse_host_selection("worst-fit").is_err());
        assert!(parse_host_selection("random:x").is_err());
        assert!(parse_host_selection("first-fit:3").is_err());
        assert!(parse_keep_alive("fixed:99999999999999").is_err());
        assert!(parse_image_eviction("fifo").is_err());
        assert_eq!(
            parse_image_eviction("kubelet-watermark"),
            parse_image_eviction("kubelet-watermark:85:80")
        );
        for bad in [
            "kubelet-watermark:85",
            "kubelet-watermark:101:80",
            "kubelet-watermark:80:85",
            "kubelet-watermark:x:80",
            "kubelet-watermark:85:80:1",
        ] {
            assert!(parse_image_eviction(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_choice_is_the_default_builtin() {
        let config = crate::simulate::default_config(crate::Pressure::Reject);
        assert_eq!(
            PolicyChoice::default().builtin(&config, 1),
            Builtin::default()
        );
    }
}
