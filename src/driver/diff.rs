//! Where two event streams part: the first event that differs, for a
//! nondeterminism finding, an oracle comparison or a replay gone astray.

use crate::Event;
use serde::{Deserialize, Serialize};

/// The first place two event streams differ: the index of the event
/// (counted from 0 over the whole stream) and the event each stream has
/// there (`None` where that stream has already ended).
///
/// ```
/// use coldstart::driver::{first_divergence, Divergence};
/// use coldstart::{Event, EventKind, Provider};
/// # use coldstart::simulate::default_config;
/// # use coldstart::{Builtin, Command, Input, Pressure};
/// # let mut provider = Provider::new(default_config(Pressure::Reject), Builtin::default())?;
/// # let events: Vec<Event> = provider
/// #     .apply(&Input { at_us: 0, command: Command::RegisterImage { size_bytes: 1 << 20 } })?
/// #     .into_vec();
/// let left = events.clone();
/// let right = &events[..0];
/// let divergence = first_divergence(&left, right).unwrap();
/// assert_eq!(divergence.event_index, 0);
/// assert_eq!(divergence.left, Some(events[0]));
/// assert_eq!(divergence.right, None);
/// assert_eq!(first_divergence(&left, &events), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Divergence {
    /// The index of the first event that differs.
    pub event_index: u64,
    /// The left stream's event there, if it has one.
    pub left: Option<Event>,
    /// The right stream's event there, if it has one.
    pub right: Option<Event>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |event: &Option<Event>| match event {
            Some(event) => serde_json::to_string(event).unwrap_or_else(|_| format!("{event:?}")),
            None => "no event (the stream has ended)".to_string(),
        };
        write!(
            f,
            "event {} differs: {} on the left, {} on the right",
            self.event_index,
            show(&self.left),
            show(&self.right)
        )
    }
}

/// The first event at which `left` and `right` differ, or `None` if they
/// are the same stream.
pub fn first_divergence(left: &[Event], right: &[Event]) -> Option<Divergence> {
    let index = left
        .iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .unwrap_or(left.len().min(right.len()));
    if index == left.len() && index == right.len() {
        return None;
    }
    Some(Divergence {
        event_index: index as u64,
        left: left.get(index).copied(),
        right: right.get(index).copied(),
    })
}
