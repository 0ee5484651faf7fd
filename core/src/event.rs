//! Events: everything the provider reports, in the order it happens.
//!
//! Every step returns its events in emission order (spec §20, R111–R113):
//! an [`Event`] is a time stamp and an [`EventKind`]. Events are the only
//! way the provider says what it did — a cache hit, an eviction, a retry —
//! so a driver, a test or a report learns everything from them without
//! reaching into the state. The kinds that hand out a new id are
//! `ImageRegistered`, `FunctionRegistered`, `Accepted` and `ColdStart` /
//! `Prewarmed` (spec R15); the ones that end an invocation are `Completed`,
//! `Failed`, `TimedOut`, `Rejected` and `PlatformFailed` (spec R135).

use crate::ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
use crate::input::Phase;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The events of one step. Most steps emit a handful, which stay inline.
pub type Events = SmallVec<[Event; 8]>;

/// One thing that happened, and when (spec R111).
///
/// `at_us` is the provider's virtual time when the event was emitted. The
/// events of one step are in non-decreasing `at_us`; an event stamped
/// earlier than the input's own time comes from a timer that fired during
/// the step, before the input's command ran (spec R32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, in µs of virtual time.
    pub at_us: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What happened (the catalogue: spec R111).
///
/// Variants are listed in the order of the catalogue's first edition; new
/// kinds are appended, because a kind's position is part of the event
/// digests of command logs (`docs/log-format.md`). The enum is
/// `#[non_exhaustive]`: a `match` on it needs a `_` arm, so that a new kind
/// is not a breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventKind {
    /// A `RegisterImage` input registered an image (spec R39). Images are
    /// never removed: ids are `img#0.0`, `img#1.0`, … in registration order
    /// (spec R14).
    ImageRegistered {
        /// The new image's id.
        image: ImageId,
        /// Its size, as registered (bytes).
        size_bytes: u64,
    },
    /// A `RegisterFunction` input registered a function (spec R41). Like
    /// images, functions are never removed.
    FunctionRegistered {
        /// The new function's id.
        function: FunctionId,
        /// The image its containers run from.
        image: ImageId,
    },
    /// An `Invoke` input was accepted; the invocation now exists (spec R43).
    /// It is the first event of its `Invoke`'s own events; the start,
    /// queueing or rejection follows at once.
    Accepted {
        /// The new invocation's id.
        invocation: InvocationId,
        /// The function invoked.
        function: FunctionId,
    },
    /// No room now: the invocation waits in the provider's FIFO queue
    /// (queue mode, spec R48). It starts from the head of the queue when an
    /// invocation ends and frees room (spec R50, R51).
    Queued {
        /// The invocation that joined the queue.
        invocation: InvocationId,
        /// The queue's length after it joined (1: it is the head).
        queue_len: u32,
    },
    /// The invocation ends at once, unstarted and unbilled (terminal, spec
    /// R49).
    Rejected {
        /// The invocation rejected.
        invocation: InvocationId,
        /// Why: no room in reject mode, or a full queue in queue mode.
        reason: RejectReason,
    },
    /// An idle container of the function takes the invocation (spec R57):
    /// its `ExecutionStarted` follows the function's warm-start overhead
    /// later (`FunctionDef::warm_start_us`, or `Config::warm_start_us`).
    WarmStart {
        /// The invocation started.
        invocation: InvocationId,
        /// The idle container reused: the function's lowest warm priority.
        container: ContainerId,
        /// The host that container is on.
        host: HostId,
    },
    /// A new container is placed on `host` for the invocation (spec R60).
    /// Any evictions made for room come just before it; the transfer it
    /// needs, if any, just after (spec R61).
    ColdStart {
        /// The invocation started.
        invocation: InvocationId,
        /// The new container's id.
        container: ContainerId,
        /// The host the policy chose.
        host: HostId,
        /// Where its image was found, and so what must be transferred.
        image: ImageSource,
    },
    /// A download into main storage could not start for want of room; it
    /// waits, in FIFO order, until room frees up there (spec R75, R77).
    DownloadWaiting {
        /// The image whose download waits.
        image: ImageId,
    },
    /// A download from the registry into main storage began, or began again
    /// after a failure (spec R76, R143). Its bytes are reserved in main
    /// storage from now on and counted in `Metrics::bytes_downloaded`;
    /// `DownloadFinished` follows `⌈size × 10^6 / download_bytes_per_s⌉`
    /// µs later (spec R84) unless a fault cuts it short.
    DownloadStarted {
        /// The image being downloaded.
        image: ImageId,
    },
    /// The image is in main storage (spec R81); the copies to every host
    /// waiting for it start right after, in the order the hosts asked.
    DownloadFinished {
        /// The image downloaded.
        image: ImageId,
    },
    /// A copy of the image from main storage to the host's disk began, or
    /// began again after a failure (spec R78, R144); `CopyFinished` follows
    /// `⌈size × 10^6 / copy_bytes_per_s⌉` µs later (spec R84).
    CopyStarted {
        /// The image being copied.
        image: ImageId,
        /// The host it is copied to.
        host: HostId,
    },
    /// The image's copy is on the host's disk (spec R82): the containers
    /// that waited for it begin their cold-start overhead, in the order
    /// they joined.
    CopyFinished {
        /// The image copied.
        image: ImageId,
        /// The host it arrived on.
        host: HostId,
    },
    /// An evictable image was dropped from a disk: to make room for a cold
    /// start (spec R71) or a download (spec R76), or by the collection
    /// announced by the `ImageCollection` just before (spec R152). A pinned
    /// image — arriving, or used by a container that is not idle — is never
    /// evicted.
    ImageEvicted {
        /// The image dropped.
        image: ImageId,
        /// The disk it was dropped from.
        tier: Tier,
    },
    /// The container is ready: the invocation's code begins, and its time
    /// limit starts now (spec R86, R88). The end follows after
    /// `min(code duration, time limit)`.
    ExecutionStarted {
        /// The invocation whose code begins.
        invocation: InvocationId,
        /// The container it runs in.
        container: ContainerId,
    },
    /// The invocation's code ran to its end (terminal, spec R89); its
    /// container goes idle (`ContainerIdle`) or is unloaded for a pre-warm
    /// just after.
    Completed {
        /// The invocation that completed.
        invocation: InvocationId,
        /// The output its `Code` named (`Outcome::Success { output }`),
        /// also returned by `Provider::get_output`.
        output: u64,
        /// What the billing policy charged, in picodollars (spec R102).
        cost_picodollars: u64,
    },
    /// The invocation's code failed at the end of a phase, as its `Code`
    /// said (terminal, spec R87, R89). It is billed; its container is
    /// discarded (`ContainerRemoved { cause: Discarded }`) just after.
    Failed {
        /// The invocation that failed.
        invocation: InvocationId,
        /// The phase it failed in.
        phase: Phase,
        /// What the billing policy charged, in picodollars (spec R102).
        cost_picodollars: u64,
    },
    /// The invocation's code would have run longer than its function's time
    /// limit: it was stopped at the limit (terminal, spec R88, R90). It is
    /// billed for exactly the limit (plus the cold-start overhead if it
    /// started cold); its container is discarded just after.
    TimedOut {
        /// The invocation that timed out.
        invocation: InvocationId,
        /// What the billing policy charged, in picodollars (spec R102).
        cost_picodollars: u64,
    },
    /// The container finished its invocation (or, pre-warmed, became ready)
    /// and stays warm until `expires_at_us`, unless a warm start reuses it
    /// or a cold start evicts it first (spec R91, R93, R157).
    ContainerIdle {
        /// The container that went idle.
        container: ContainerId,
        /// When its keep-alive runs out, in µs: now plus the policy's
        /// keep-alive, at most `limits::DURATION_MAX_US` (spec R8).
        expires_at_us: u64,
    },
    /// The container is gone: its RAM, slot and scratch are free, and its
    /// image copy may have become evictable (spec R94–R96).
    ContainerRemoved {
        /// The container removed.
        container: ContainerId,
        /// The host it was on.
        host: HostId,
        /// Why it was removed.
        cause: RemovalCause,
    },
    /// A host-selection decision was invalid and was not applied; the
    /// provider went on as if the policy had declined, rejecting or queueing
    /// the invocation (spec R54.5). A queued head emits one at every retry
    /// while its policy keeps choosing badly (spec R55).
    DecisionRefused {
        /// The invocation being placed.
        invocation: InvocationId,
        /// The host the policy returned, as it returned it (it may name no
        /// host).
        host: HostId,
        /// Why the choice was refused.
        reason: DecisionError,
    },
    /// A terminal invocation's record was dropped, by a `Reap` input or by
    /// retention (`Config::terminal_records_max`, spec R99, R100). Its id
    /// now names nothing; its arena slot may be reused with a new
    /// generation.
    Reaped {
        /// The invocation whose record was dropped.
        invocation: InvocationId,
    },
    /// Fault: the host went down (spec R141). Its containers' removals
    /// (`ContainerRemoved { cause: HostLost }`) and their invocations'
    /// retries or platform failures follow.
    HostDown {
        /// The host that went down.
        host: HostId,
    },
    /// The host is back, with empty RAM and slots (spec R142).
    HostUp {
        /// The host that came back.
        host: HostId,
        /// Whether its disk cache survived; if not, an `ImageLost` per copy
        /// follows.
        disk_kept: bool,
    },
    /// Fault: main storage's disk was lost (spec R145): transfers into and
    /// out of it fail, and its images are lost.
    MainStorageLost,
    /// An image copy was on a disk that was lost (spec R142, R145).
    ImageLost {
        /// The image lost.
        image: ImageId,
        /// The disk it was on.
        tier: Tier,
    },
    /// An attempt of the image's download failed (spec R143, R145).
    DownloadFailed {
        /// The image whose download failed.
        image: ImageId,
        /// The number of the attempt that failed, from 1.
        attempt: u32,
        /// Whether another attempt follows after the backoff
        /// (`Config::retry`, spec R136); if not, the download is abandoned
        /// and the invocations waiting for it end with
        /// `PlatformFailed { reason: TransferFailed }`.
        retrying: bool,
    },
    /// An attempt of the image's copy to the host failed (spec R144, R145).
    CopyFailed {
        /// The image whose copy failed.
        image: ImageId,
        /// The host it was copied to.
        host: HostId,
        /// The number of the attempt that failed, from 1.
        attempt: u32,
        /// Whether another attempt follows after the backoff; if not, the
        /// copy is abandoned and the invocations waiting for it end with
        /// `PlatformFailed { reason: TransferFailed }`.
        retrying: bool,
    },
    /// The invocation lost its container to a host going down and has an
    /// attempt left: it is admitted again, like a new invocation, at
    /// `at_us` (spec R147, R146). The attempt that died is not billed.
    Retrying {
        /// The invocation to retry.
        invocation: InvocationId,
        /// The number of the attempt to come (2 for the first retry).
        attempt: u32,
        /// When it is admitted again, in µs: now plus the backoff.
        at_us: u64,
    },
    /// The invocation ends on a platform error: the provider, not the
    /// function, is at fault (terminal, not billed; spec R135, R148).
    PlatformFailed {
        /// The invocation that failed.
        invocation: InvocationId,
        /// What the provider lost.
        reason: PlatformError,
    },
    // Last, so the variant indices of the kinds above (hashed into event
    // digests, docs/log-format.md) stay as they were.
    /// After an image landed on the disk, its use (`used_bytes`) had passed
    /// the policy's mark: the `ImageEvicted` events that follow at once,
    /// on this tier, collect evictable images until use is at or below
    /// `target_bytes` or none is left (spec R152).
    ImageCollection {
        /// The disk collected.
        tier: Tier,
        /// Its use when the collection began (bytes; for a host, image
        /// copies present or arriving plus live containers' scratch).
        used_bytes: u64,
        /// The use the policy asked to come down to (bytes).
        target_bytes: u64,
    },
    /// The function's container was unloaded after its invocation
    /// (`ContainerRemoved { cause: Unloaded }` just before) and the policy
    /// asked for a fresh one at `at_us`: a pre-warm (spec R155). An
    /// invocation of the function that starts first cancels it, silently.
    PrewarmPlanned {
        /// The function to pre-warm.
        function: FunctionId,
        /// When the pre-warm is due, in µs.
        at_us: u64,
    },
    /// A pre-warm: a container placed on `host` for the function with no
    /// invocation; it goes idle (`ContainerIdle`) once its image is there
    /// and the cold-start overhead is paid (spec R156, R157).
    Prewarmed {
        /// The function pre-warmed.
        function: FunctionId,
        /// The new container's id.
        container: ContainerId,
        /// The host the policy chose.
        host: HostId,
        /// Where its image was found, as for a cold start.
        image: ImageSource,
    },
    /// At a reconcile tick the autoscaler wanted `desired` live containers
    /// of the function, which had `containers` (spec R169): the difference
    /// is pre-warmed (`Prewarmed` or `PrewarmSkipped` follow), or idle
    /// containers beyond it are removed (`ContainerRemoved { cause:
    /// ScaledDown }` follow, as many as are idle). Emitted only when the
    /// two differ.
    Scaled {
        /// The function.
        function: FunctionId,
        /// Its live containers before acting.
        containers: u32,
        /// The autoscaler's answer.
        desired: u32,
    },
    /// A pre-warm that was due now (planned, or for the autoscaler) did
    /// not place a container (spec R156, R169).
    PrewarmSkipped {
        /// The function whose pre-warm was skipped.
        function: FunctionId,
        /// Why.
        reason: PrewarmSkip,
    },
    /// The container just removed (`ContainerRemoved` just before) was
    /// billed for its time as an instance, by a policy that bills
    /// containers (Cloud Run's models, spec R104b); never under Lambda's.
    ContainerBilled {
        /// The container billed.
        container: ContainerId,
        /// Its function.
        function: FunctionId,
        /// What the billing policy charged, in picodollars (spec R104b).
        cost_picodollars: u64,
    },
    /// A container is placed to hold the function's warm floor (spec R162),
    /// with no invocation: it goes `Reserved` once ready. Any evictions
    /// made for room come just before it.
    FloorPlaced {
        /// The function whose floor it holds.
        function: FunctionId,
        /// The new container's id.
        container: ContainerId,
        /// The host the policy chose.
        host: HostId,
        /// Where its image was found.
        image: ImageSource,
    },
    /// The function's floor could not be brought up to its target now
    /// (spec R161); it is tried again at the next `DRAIN` or `HostDown`.
    FloorShort {
        /// The function.
        function: FunctionId,
        /// How many floor containers it still lacks.
        missing: u32,
        /// Why the next placement failed (`QueueWaiting`, `NoHost` or
        /// `Refused`).
        reason: PrewarmSkip,
    },
    /// A floor container is idle and held (spec R163): it never expires and
    /// is never evicted; the function's invocations take it first.
    ContainerReserved {
        /// The floor container.
        container: ContainerId,
    },
}

/// Why a due pre-warm placed no container (spec R156).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PrewarmSkip {
    /// The function already has an idle container.
    AlreadyWarm,
    /// Invocations wait in the queue: room goes to them first.
    QueueWaiting,
    /// No host can take it (the policy declined, or the container arena is
    /// full).
    NoHost,
    /// The policy chose a host that cannot take it (also counted in
    /// `Metrics::decisions_refused`; no `DecisionRefused` event, as there
    /// is no invocation to name).
    Refused {
        /// The host the policy returned.
        host: HostId,
        /// Why the choice was refused.
        reason: DecisionError,
    },
}

/// Why an invocation ended on a platform error, not the function's fault
/// (spec R135, R148). Never billed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PlatformError {
    /// Its host went down and it had no attempt left (spec R147).
    HostLost,
    /// Its image could not be brought to its host (download or copy failed
    /// after every attempt, or main storage was lost; spec R149).
    TransferFailed,
}

/// Why an invocation was rejected at admission (spec R48, R49). Rejections
/// happen only for want of host room — RAM, a slot, disk — never for main
/// storage (spec R53).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RejectReason {
    /// Reject mode: no idle container and no host with room.
    ResourceUnavailable,
    /// Queue mode: the queue is at its capacity.
    QueueFull,
}

/// Where a cold start or a pre-warm found its image (spec R112), which
/// decides what it waits for before its overhead starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImageSource {
    /// On the host's disk already: no transfer.
    HostDisk,
    /// Already on its way to the host's disk: joins that copy.
    HostCopyInFlight,
    /// In main storage: copied to the host.
    MainStorage,
    /// Being downloaded (or waiting to be): joins that download, then copied.
    DownloadInFlight,
    /// Nowhere: downloaded, then copied.
    Registry,
}

/// A disk: main storage, or one host's local disk. Both are LRU caches of
/// images by default (spec §12, §13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// The provider's main storage, where every image is downloaded first.
    MainStorage,
    /// This host's local disk, which holds image copies and containers'
    /// scratch.
    Host(HostId),
}

/// Why a container was removed (spec R94–R95, R141, R155).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RemovalCause {
    /// Its keep-alive ran out while idle.
    Expired,
    /// Evicted while idle to make room for another container.
    Evicted,
    /// Destroyed after its invocation failed or timed out, or because the
    /// transfer it waited for was given up (spec R149).
    Discarded,
    /// Died with its host.
    HostLost,
    /// Removed right after its invocation completed, because the policy
    /// planned a pre-warm instead of keeping it (spec R155).
    Unloaded,
    /// Removed while idle because the autoscaler wanted fewer containers
    /// of its function (spec R169).
    ScaledDown,
}

/// Why a host-selection decision was refused (spec R54.5). The core checks
/// `UnknownHost`, then `HostDown`, then `NoRoom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DecisionError {
    /// The host named does not exist.
    UnknownHost,
    /// The host cannot make room (RAM, slot or disk) even by evicting.
    NoRoom,
    /// The host is down.
    HostDown,
}

impl core::fmt::Display for DecisionError {
    /// A reason, short enough to follow "refused decision: host#7 for
    /// inv#0.0: " in a finding or a log line.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DecisionError::UnknownHost => "no such host",
            DecisionError::NoRoom => "the host cannot make room, even by evicting",
            DecisionError::HostDown => "the host is down",
        })
    }
}

impl std::error::Error for DecisionError {}

#[cfg(test)]
mod tests {
    use super::DecisionError;

    /// The reasons read as the findings and log lines quote them.
    #[test]
    fn decision_errors_read_in_words() {
        assert_eq!(DecisionError::UnknownHost.to_string(), "no such host");
        assert_eq!(
            DecisionError::NoRoom.to_string(),
            "the host cannot make room, even by evicting"
        );
        assert_eq!(DecisionError::HostDown.to_string(), "the host is down");
    }
}
