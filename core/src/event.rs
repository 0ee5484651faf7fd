//! Events: everything the provider reports, in the order it happens.

use crate::ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
use crate::input::Phase;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The events of one step. Most steps emit a handful, which stay inline.
pub type Events = SmallVec<[Event; 8]>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (µs). Events of one step are in non-decreasing time.
    pub at_us: u64,
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    ImageRegistered {
        image: ImageId,
        size_bytes: u64,
    },
    FunctionRegistered {
        function: FunctionId,
        image: ImageId,
    },
    /// An `Invoke` input was accepted; the invocation now exists.
    Accepted {
        invocation: InvocationId,
        function: FunctionId,
    },
    /// No room now: the invocation waits in the queue (queue mode).
    Queued {
        invocation: InvocationId,
        /// Queue length after it joined.
        queue_len: u32,
    },
    /// The invocation ends at once, unstarted (terminal).
    Rejected {
        invocation: InvocationId,
        reason: RejectReason,
    },
    /// An idle container of the function takes the invocation.
    WarmStart {
        invocation: InvocationId,
        container: ContainerId,
        host: HostId,
    },
    /// A new container is placed on `host` for the invocation; `image` says
    /// where its image was found.
    ColdStart {
        invocation: InvocationId,
        container: ContainerId,
        host: HostId,
        image: ImageSource,
    },
    /// A download into main storage could not start for want of room; it
    /// waits until copies out of main storage finish.
    DownloadWaiting {
        image: ImageId,
    },
    DownloadStarted {
        image: ImageId,
    },
    DownloadFinished {
        image: ImageId,
    },
    CopyStarted {
        image: ImageId,
        host: HostId,
    },
    CopyFinished {
        image: ImageId,
        host: HostId,
    },
    /// An unpinned image was dropped from a disk, to make room or by the
    /// collection announced just before.
    ImageEvicted {
        image: ImageId,
        tier: Tier,
    },
    /// The container is ready: the invocation's code begins, and its time
    /// limit starts now.
    ExecutionStarted {
        invocation: InvocationId,
        container: ContainerId,
    },
    Completed {
        invocation: InvocationId,
        output: u64,
        cost_picodollars: u64,
    },
    Failed {
        invocation: InvocationId,
        phase: Phase,
        cost_picodollars: u64,
    },
    TimedOut {
        invocation: InvocationId,
        cost_picodollars: u64,
    },
    /// The container finished its invocation and stays warm until
    /// `expires_at_us`, unless reused or evicted first.
    ContainerIdle {
        container: ContainerId,
        expires_at_us: u64,
    },
    ContainerRemoved {
        container: ContainerId,
        host: HostId,
        cause: RemovalCause,
    },
    /// A policy decision was invalid and was not applied; the provider went
    /// on as if the policy had declined.
    DecisionRefused {
        invocation: InvocationId,
        host: HostId,
        reason: DecisionError,
    },
    /// A terminal invocation's record was dropped (by `Reap` or retention).
    Reaped {
        invocation: InvocationId,
    },
    /// Fault: the host went down (its containers are lost next).
    HostDown {
        host: HostId,
    },
    /// The host is back, with empty RAM; its disk cache kept or lost.
    HostUp {
        host: HostId,
        disk_kept: bool,
    },
    /// Fault: main storage's disk was lost.
    MainStorageLost,
    /// An image copy was on a disk that was lost.
    ImageLost {
        image: ImageId,
        tier: Tier,
    },
    /// Attempt `attempt` of the image's download failed; it is tried again
    /// after the backoff if `retrying`, else abandoned.
    DownloadFailed {
        image: ImageId,
        attempt: u32,
        retrying: bool,
    },
    /// Attempt `attempt` of the image's copy to the host failed; tried again
    /// after the backoff if `retrying`, else abandoned.
    CopyFailed {
        image: ImageId,
        host: HostId,
        attempt: u32,
        retrying: bool,
    },
    /// The invocation lost its container to a fault; attempt `attempt` is
    /// admitted again at `at_us`.
    Retrying {
        invocation: InvocationId,
        attempt: u32,
        at_us: u64,
    },
    /// The invocation ends on a platform error (terminal, not billed).
    PlatformFailed {
        invocation: InvocationId,
        reason: PlatformError,
    },
    // Last, so the variant indices of the kinds above (hashed into event
    // digests, docs/log-format.md) stay as they were.
    /// After an image landed on the disk, its use (`used_bytes`) had passed
    /// the policy's mark: the `ImageEvicted` events that follow at once,
    /// on this tier, collect evictable images until use is at or below
    /// `target_bytes` or none is left (R152).
    ImageCollection {
        tier: Tier,
        used_bytes: u64,
        target_bytes: u64,
    },
    /// The function's container was unloaded after its invocation
    /// (`ContainerRemoved { cause: Unloaded }` just before) and the policy
    /// asked for a fresh one at `at_us`: a pre-warm (R155).
    PrewarmPlanned {
        function: FunctionId,
        at_us: u64,
    },
    /// A pre-warm: a container placed on `host` for the function with no
    /// invocation; it goes idle once started (R157). `image` says where its
    /// image was found, as for a cold start.
    Prewarmed {
        function: FunctionId,
        container: ContainerId,
        host: HostId,
        image: ImageSource,
    },
    /// A planned pre-warm that was due now did not place a container (R156).
    PrewarmSkipped {
        function: FunctionId,
        reason: PrewarmSkip,
    },
}

/// Why a due pre-warm placed no container (R156).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrewarmSkip {
    /// The function already has an idle container.
    AlreadyWarm,
    /// Invocations wait in the queue: room goes to them first.
    QueueWaiting,
    /// No host can take it (the policy declined, or the container arena is
    /// full).
    NoHost,
    /// The policy chose a host that cannot take it (also counted in
    /// `decisions_refused`).
    Refused { host: HostId, reason: DecisionError },
}

/// Why an invocation ended on a platform error (not the function's fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlatformError {
    /// Its host went down and it had no attempt left.
    HostLost,
    /// Its image could not be brought to its host (download or copy failed
    /// after every attempt, or main storage was lost).
    TransferFailed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectReason {
    /// Reject mode: no idle container and no host with room.
    ResourceUnavailable,
    /// Queue mode: the queue is at its capacity.
    QueueFull,
}

/// Where a cold start found its image.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tier {
    MainStorage,
    Host(HostId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RemovalCause {
    /// Its keep-alive ran out while idle.
    Expired,
    /// Evicted while idle to make room for another container.
    Evicted,
    /// Destroyed after its invocation failed or timed out.
    Discarded,
    /// Died with its host.
    HostLost,
    /// Removed right after its invocation completed, because the policy
    /// planned a pre-warm instead of keeping it (R155).
    Unloaded,
}

/// Why a host-selection decision was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DecisionError {
    /// The host named does not exist.
    UnknownHost,
    /// The host cannot make room (RAM, slot or disk) even by evicting.
    NoRoom,
    /// The host is down.
    HostDown,
}

impl core::fmt::Display for DecisionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DecisionError::UnknownHost => "no such host",
            DecisionError::NoRoom => "the host cannot make room, even by evicting",
            DecisionError::HostDown => "the host is down",
        })
    }
}

impl std::error::Error for DecisionError {}
