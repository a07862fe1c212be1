//! What a completion belongs to, packed into the SQE's 64-bit `user_data`.
//!
//! ```text
//!  63      56 55          40 39                        8 7      0
//! +----------+--------------+---------------------------+--------+
//! | reserved | buffer id    | connection (fixed slot)   |  kind  |
//! +----------+--------------+---------------------------+--------+
//! ```
//!
//! The buffer id is only meaningful for sends (the provided buffer the
//! bytes are sent from); receives learn theirs from the CQE flags.

/// The operation a completion belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The multishot accept on the listener.
    Accept,
    /// The multishot receive of a connection.
    Recv,
    /// A send of (part of) one received buffer.
    Send,
    /// The close of a connection's fixed slot.
    Close,
    /// A `shutdown(SHUT_RDWR)` after a failed send.
    Shutdown,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Accept,
        Kind::Recv,
        Kind::Send,
        Kind::Close,
        Kind::Shutdown,
    ];
}

/// A decoded `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserData {
    pub(crate) kind: Kind,
    pub(crate) conn: u32,
    pub(crate) bid: u16,
}

impl UserData {
    pub(crate) fn new(kind: Kind, conn: u32, bid: u16) -> UserData {
        UserData { kind, conn, bid }
    }

    pub(crate) fn encode(self) -> u64 {
        (self.kind as u64) | (u64::from(self.conn) << 8) | (u64::from(self.bid) << 40)
    }

    /// `None` for a tag this loop never wrote.
    pub(crate) fn decode(raw: u64) -> Option<UserData> {
        let kind = *Kind::ALL.get((raw & 0xff) as usize)?;
        Some(UserData {
            kind,
            conn: (raw >> 8) as u32,
            bid: (raw >> 40) as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind_and_extreme_fields() {
        for kind in Kind::ALL {
            for (conn, bid) in [(0, 0), (u32::MAX, u16::MAX), (12_345, 777)] {
                let ud = UserData::new(kind, conn, bid);
                assert_eq!(UserData::decode(ud.encode()), Some(ud));
            }
        }
        assert_eq!(UserData::decode(0xff), None);
    }
}
