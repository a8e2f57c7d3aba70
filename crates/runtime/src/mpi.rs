//! The runtime's view of an MPI world (SPEC §9): the [`MpiHost`] trait through which rank 0's
//! `MPI_Init` starts the world (the scheduler implements it), the [`MpiWorld`] a rank talks
//! through, and the [`Mailbox`] where a rank's incoming messages wait to be matched.
//!
//! A rank always receives from its own mailbox, which lives on its host; a send goes through
//! [`MpiWorld::send`], which for a rank on this host pushes into its mailbox and for a rank on
//! another host (later) would go over the wire. That is the seam for worlds across hosts.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::BoxFuture;

/// Who sent a message, on which context (communicator) and with which tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// The communicator's context: user messages and collective traffic of one communicator
    /// use different contexts, so they never match each other.
    pub context: u32,
    pub source: i32,
    pub tag: i32,
}

/// One message in flight: its envelope and bytes.
#[derive(Debug, Clone)]
pub struct Message {
    pub envelope: Envelope,
    pub data: Bytes,
}

/// What a receive accepts: its context, and a source and tag or any (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    pub context: u32,
    pub source: Option<i32>,
    pub tag: Option<i32>,
}

impl Pattern {
    pub fn matches(&self, envelope: &Envelope) -> bool {
        self.context == envelope.context
            && self.source.is_none_or(|s| s == envelope.source)
            && self.tag.is_none_or(|t| t == envelope.tag)
    }
}

/// A rank's incoming messages in arrival order. Messages from one sender arrive in the order
/// they were sent, and a receive takes the earliest that matches, so messages never overtake
/// each other (MPI's non-overtaking rule).
#[derive(Default)]
pub struct Mailbox {
    queue: Mutex<VecDeque<Message>>,
    arrived: Notify,
    /// Bytes waiting in this mailbox and the others that share the counter (a world's).
    buffered: Arc<AtomicUsize>,
}

impl Mailbox {
    /// A mailbox whose waiting bytes count in `buffered`.
    pub fn counted_in(buffered: Arc<AtomicUsize>) -> Self {
        Self {
            buffered,
            ..Self::default()
        }
    }

    /// Queues `message`, unless the bytes waiting (counted with this message's) would pass
    /// `limit`: then the message is refused and its size is returned.
    pub fn deliver(&self, message: Message, limit: usize) -> Result<(), usize> {
        let len = message.data.len();
        let fits = self
            .buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(len).filter(|&total| total <= limit)
            });
        if fits.is_err() {
            return Err(len);
        }
        self.queue.lock().push_back(message);
        self.arrived.notify_waiters();
        Ok(())
    }

    /// Removes and returns the earliest message `pattern` matches.
    pub fn take(&self, pattern: &Pattern) -> Option<Message> {
        let mut queue = self.queue.lock();
        let index = queue.iter().position(|m| pattern.matches(&m.envelope))?;
        let message = queue.remove(index)?;
        self.buffered
            .fetch_sub(message.data.len(), Ordering::AcqRel);
        Some(message)
    }

    /// The envelope and size of the earliest message `pattern` matches, left in place.
    pub fn peek(&self, pattern: &Pattern) -> Option<(Envelope, usize)> {
        let queue = self.queue.lock();
        let message = queue.iter().find(|m| pattern.matches(&m.envelope))?;
        Some((message.envelope, message.data.len()))
    }

    /// Waits until `ready` answers `Some`, checking again after every arrival.
    pub async fn wait_for<T>(&self, mut ready: impl FnMut(&Self) -> Option<T>) -> T {
        loop {
            let arrived = self.arrived.notified();
            let mut arrived = std::pin::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(value) = ready(self) {
                return value;
            }
            arrived.await;
        }
    }
}

/// One rank's membership of a running world.
pub trait MpiWorld: Send + Sync + 'static {
    fn rank(&self) -> i32;
    fn size(&self) -> i32;
    /// This rank's incoming messages.
    fn mailbox(&self) -> &Mailbox;
    /// Sends `data` to rank `dest` (buffered: returns once the message is queued there).
    fn send(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>>;
    /// The world's ranks host by host: consecutive ranges covering `0..size` in order, one per
    /// host (a single range when the whole world runs on one host).
    fn hosts(&self) -> &[Range<i32>];
}

/// A call's link to the world it belongs to, given by the scheduler to every rank's call.
pub trait MpiHost: Send + Sync + 'static {
    /// `MPI_Init`: this rank's membership. Rank 0's first call starts ranks 1..N-1.
    fn join(&self) -> BoxFuture<'_, Result<Arc<dyn MpiWorld>, String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(source: i32, tag: i32, data: &'static [u8]) -> Message {
        Message {
            envelope: Envelope {
                context: 0,
                source,
                tag,
            },
            data: Bytes::from_static(data),
        }
    }

    fn pattern(source: Option<i32>, tag: Option<i32>) -> Pattern {
        Pattern {
            context: 0,
            source,
            tag,
        }
    }

    #[test]
    fn takes_the_earliest_match_and_never_overtakes() {
        let mailbox = Mailbox::default();
        for m in [
            message(1, 5, b"a"),
            message(2, 7, b"b"),
            message(1, 5, b"c"),
            message(1, 6, b"d"),
        ] {
            mailbox.deliver(m, usize::MAX).unwrap();
        }
        let data = |m: Option<Message>| m.map(|m| m.data);
        assert_eq!(data(mailbox.take(&pattern(Some(1), Some(6)))).unwrap(), "d");
        assert_eq!(data(mailbox.take(&pattern(None, Some(7)))).unwrap(), "b");
        assert_eq!(data(mailbox.take(&pattern(Some(1), None))).unwrap(), "a");
        assert!(mailbox.take(&pattern(Some(2), None)).is_none());
        // Another context never matches.
        let other = Pattern {
            context: 2,
            ..pattern(None, None)
        };
        assert!(mailbox.peek(&other).is_none());
        assert_eq!(data(mailbox.take(&pattern(None, None))).unwrap(), "c");
    }

    #[test]
    fn counts_what_waits_against_the_limit() {
        let buffered = Arc::new(AtomicUsize::new(0));
        let first = Mailbox::counted_in(buffered.clone());
        let second = Mailbox::counted_in(buffered.clone());
        first.deliver(message(0, 0, b"1234"), 6).unwrap();
        assert_eq!(second.deliver(message(0, 0, b"123"), 6), Err(3));
        second.deliver(message(0, 0, b"12"), 6).unwrap();
        first.take(&pattern(None, None)).unwrap();
        assert_eq!(buffered.load(Ordering::Acquire), 2);
        second.deliver(message(0, 0, b"123"), 6).unwrap();
    }
}
