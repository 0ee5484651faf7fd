//! Entity ids. Images, functions, invocations and containers are arena keys
//! (index + generation), handed out by the provider in the events that create
//! them; hosts are fixed by the configuration and numbered from 0.

use serde::{Deserialize, Serialize};

crate::arena::define_id!(
    /// An image, returned by `Event::ImageRegistered`.
    ImageId,
    "img"
);
crate::arena::define_id!(
    /// A function, returned by `Event::FunctionRegistered`.
    FunctionId,
    "fn"
);
crate::arena::define_id!(
    /// An invocation, returned by `Event::Accepted`.
    InvocationId,
    "inv"
);
crate::arena::define_id!(
    /// A container, named in `Event::ColdStart` and later events.
    ContainerId,
    "ctr"
);

/// A compute host: its index in `Config::hosts`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct HostId(pub u32);

impl HostId {
    /// The host's position in `Config::hosts`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Debug for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host#{}", self.0)
    }
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_with_their_kind() {
        assert_eq!(HostId(3).to_string(), "host#3");
        assert_eq!(format!("{:?}", HostId(0)), "host#0");
        assert_eq!(
            InvocationId::from_bits((2 << 32) | 5).to_string(),
            "inv#5.2"
        );
        assert_eq!(HostId(4).index(), 4);
    }
}
