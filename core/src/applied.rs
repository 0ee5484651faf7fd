//! What one input did: the events of a step that applied, or the refusal of
//! one that did not — with the events of the timers that fired before it
//! was judged (spec R29, R30).

use crate::event::{Event, EventKind, Events};
use crate::ids::{FunctionId, ImageId, InvocationId};
use crate::refusal::Refusal;
use serde::{Deserialize, Serialize};

/// The entity an input created: the id an embedder wants back from a
/// registration or an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Created {
    /// `RegisterImage` created this image.
    Image(ImageId),
    /// `RegisterFunction` created this function.
    Function(FunctionId),
    /// `Invoke` accepted this invocation.
    Invocation(InvocationId),
}

/// The events of an applied input, in emission order: first those of the
/// timers due by the input's time (`timer_events`), then the command's own
/// and those of the zero-delay timers it set off (`own_events`).
///
/// It dereferences to the slice of all events, so `applied.iter()`,
/// `applied.len()` and `applied[0]` work as on a `Vec<Event>`.
///
/// ```
/// use coldstart_core::{Builtin, Command, Config, HostSpec, Input, MainStorageSpec, Provider, GIB};
///
/// let main = MainStorageSpec::new(10 * GIB, 100 << 20);
/// let host = HostSpec::new(4 * GIB, 8, 10 * GIB, 1 << 30);
/// let mut provider = Provider::new(Config::homogeneous(main, host, 2), Builtin::default()).unwrap();
/// let applied = provider
///     .apply(&Input { at_us: 0, command: Command::RegisterImage { size_bytes: 1 << 20 } })
///     .unwrap();
/// let image = applied.image().expect("a registration creates an image");
/// assert!(applied.timer_events().is_empty());
/// assert_eq!(applied.own_events().len(), 1);
/// # let _ = image;
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Applied {
    events: Events,
    own_from: usize,
}

impl Applied {
    pub(crate) fn new(events: Events, own_from: usize) -> Applied {
        debug_assert!(own_from <= events.len());
        Applied { events, own_from }
    }

    /// Every event of the step, in emission order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events of the timers that were due by the input's time and fired
    /// before its command ran (stamped with their own due times).
    pub fn timer_events(&self) -> &[Event] {
        &self.events[..self.own_from]
    }

    /// The command's own events, and those of the zero-delay timers it set
    /// off, all stamped with the input's time.
    pub fn own_events(&self) -> &[Event] {
        &self.events[self.own_from..]
    }

    /// The events, moved out.
    pub fn into_events(self) -> Events {
        self.events
    }

    /// The events, moved out into a `Vec`.
    pub fn into_vec(self) -> Vec<Event> {
        self.events.into_vec()
    }

    /// The id the input created, if it created one (a registration, or an
    /// accepted invocation), read from its first own event.
    pub fn created(&self) -> Option<Created> {
        match self.own_events().first()?.kind {
            EventKind::ImageRegistered { image, .. } => Some(Created::Image(image)),
            EventKind::FunctionRegistered { function, .. } => Some(Created::Function(function)),
            EventKind::Accepted { invocation, .. } => Some(Created::Invocation(invocation)),
            _ => None,
        }
    }

    /// The invocation an `Invoke` created.
    pub fn invocation(&self) -> Option<InvocationId> {
        match self.created()? {
            Created::Invocation(id) => Some(id),
            _ => None,
        }
    }

    /// The function a `RegisterFunction` created.
    pub fn function(&self) -> Option<FunctionId> {
        match self.created()? {
            Created::Function(id) => Some(id),
            _ => None,
        }
    }

    /// The image a `RegisterImage` created.
    pub fn image(&self) -> Option<ImageId> {
        match self.created()? {
            Created::Image(id) => Some(id),
            _ => None,
        }
    }
}

impl std::ops::Deref for Applied {
    type Target = [Event];
    fn deref(&self) -> &[Event] {
        &self.events
    }
}

impl IntoIterator for Applied {
    type Item = Event;
    type IntoIter = <Events as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.events.into_iter()
    }
}

impl<'a> IntoIterator for &'a Applied {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

/// A refused input: why, and the events of the timers that fired before
/// its command was judged (R29, R30). A refusal by the time checks
/// (`TimeTooLate`, `TimeWentBackwards`) fires nothing, so its events are
/// empty; any other refusal leaves the provider as `Advance` to the
/// input's time would have. It serializes and deserializes (from any
/// buffer: it owns its text), so a driver can log or send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Refused {
    refusal: Refusal,
    // On the heap: a refusal is rare, and a `Result` stays small.
    events: Vec<Event>,
}

impl Refused {
    pub(crate) fn new(refusal: Refusal, events: Vec<Event>) -> Refused {
        Refused { refusal, events }
    }

    /// Why the command was refused.
    pub fn refusal(&self) -> &Refusal {
        &self.refusal
    }

    /// The events of the timers that fired before the command was judged.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The refusal and the events, moved out.
    pub fn into_parts(self) -> (Refusal, Vec<Event>) {
        (self.refusal, self.events)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input refused: {}", self.refusal)?;
        if !self.events.is_empty() {
            write!(
                f,
                " (after {} event(s) of timers due by its time)",
                self.events.len()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.refusal)
    }
}

/// How an input's command is judged against the timers due by its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InputTiming {
    /// The rule of spec R29: the timers due by the input's time fire first,
    /// and the command is judged against the state they leave. The default.
    #[default]
    AtInputTime,
    /// The rule command logs of format 6 and older were recorded under: the
    /// command is judged against the state before those timers fire, and a
    /// refusal fires nothing. Replay of an old log turns it on so that the
    /// log replays as it ran; where a command valid before the timers is
    /// invalid after them (which crashed the versions that wrote such
    /// logs), it is refused after the timers, as under `AtInputTime`.
    BeforeTimers,
}
