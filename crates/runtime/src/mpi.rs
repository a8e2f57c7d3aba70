//! The runtime's view of an MPI world (SPEC §9): the [`MpiHost`] trait through which rank 0's
//! `MPI_Init` starts the world (the scheduler implements it), the [`MpiWorld`] a rank talks
//! through, and the [`Mailbox`] where a rank's incoming messages wait to be matched.
//!
//! A rank always receives from its own mailbox, which lives on its host; a send goes through
//! [`MpiWorld::send`], which for a rank on this host pushes into its mailbox and for a rank on
//! another host goes over the wire. A large message to a rank on this host is lent rather
//! than copied ([`Loan`]): the receiver copies it straight from the sender's memory.

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
#[derive(Debug)]
pub struct Message {
    pub envelope: Envelope,
    pub data: Payload,
}

/// A message's bytes: held by the host, or lent by the sending rank until they are copied.
#[derive(Debug)]
pub enum Payload {
    Owned(Bytes),
    Lent(Arc<Loan>),
}

/// The sending rank stopped (its world is failing) before its lent message was copied.
#[derive(Debug, thiserror::Error)]
#[error("the sending rank stopped before its message was received")]
pub struct Withdrawn;

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Owned(bytes) => bytes.len(),
            Payload::Lent(loan) => loan.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the host holds for this message (a loan holds none: they stay in the sender's
    /// memory).
    fn held(&self) -> usize {
        match self {
            Payload::Owned(bytes) => bytes.len(),
            Payload::Lent(_) => 0,
        }
    }

    /// Copies the bytes to `dest`, returning a loan to its sender.
    ///
    /// # Safety
    /// `dest` must be valid for writes of [`Payload::len`] bytes that nothing else reads or
    /// writes meanwhile.
    pub unsafe fn copy_to(&self, dest: *mut u8) -> Result<(), Withdrawn> {
        match self {
            // SAFETY: the caller vouches for `dest`; the source is this payload's own bytes.
            Payload::Owned(bytes) => unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dest, bytes.len());
                Ok(())
            },
            // SAFETY: as above.
            Payload::Lent(loan) => unsafe { loan.copy_to(dest) },
        }
    }

    /// The bytes as the host's own (a loan is copied and returned).
    pub fn into_bytes(self) -> Result<Bytes, Withdrawn> {
        match self {
            Payload::Owned(bytes) => Ok(bytes),
            Payload::Lent(loan) => {
                let mut bytes = Vec::with_capacity(loan.len);
                // SAFETY: `bytes` has room for `loan.len` bytes, which are then initialised.
                unsafe {
                    loan.copy_to(bytes.as_mut_ptr())?;
                    bytes.set_len(loan.len);
                }
                Ok(bytes.into())
            }
        }
    }
}

/// Bytes of a sending rank's linear memory, lent while the rank waits in its send, so that a
/// large message crosses from one rank's memory to another's with one copy. The sender's
/// [`Lender`] withdraws the loan if the send is given up (its world fails), so the bytes are
/// never read once the sender can run, change or free its memory again.
#[derive(Debug)]
pub struct Loan {
    len: usize,
    /// The lent bytes; `None` once copied or withdrawn.
    region: Mutex<Option<LentBytes>>,
    returned: Notify,
}

#[derive(Debug)]
struct LentBytes(*const u8);

// SAFETY: the pointer is only read under the loan's mutex, while the lender guarantees that
// the bytes stay valid and unchanged (see `Loan::lend`).
unsafe impl Send for LentBytes {}

impl Loan {
    /// Lends `len` bytes at `ptr` until they are copied or the [`Lender`] is dropped.
    ///
    /// # Safety
    /// The bytes must stay valid and unchanged as long as the returned [`Lender`] lives and
    /// [`Lender::returned`] has not resolved.
    pub unsafe fn lend(ptr: *const u8, len: usize) -> (Arc<Loan>, Lender) {
        let loan = Arc::new(Loan {
            len,
            region: Mutex::new(Some(LentBytes(ptr))),
            returned: Notify::new(),
        });
        (loan.clone(), Lender(loan))
    }

    /// # Safety
    /// As [`Payload::copy_to`].
    unsafe fn copy_to(&self, dest: *mut u8) -> Result<(), Withdrawn> {
        let mut region = self.region.lock();
        let lent = region.take().ok_or(Withdrawn)?;
        // SAFETY: the lender keeps the bytes valid while the region is `Some`, and the
        // caller vouches for `dest`; the mutex is held across the copy, so a withdrawal waits.
        unsafe { std::ptr::copy_nonoverlapping(lent.0, dest, self.len) };
        drop(region);
        self.returned.notify_waiters();
        Ok(())
    }
}

/// The sending side of a [`Loan`]: wait for [`Lender::returned`]; dropping it withdraws the
/// loan (waiting for a copy under way to finish).
pub struct Lender(Arc<Loan>);

impl Lender {
    /// Resolves once the receiver has copied the bytes.
    pub async fn returned(&self) {
        loop {
            let returned = self.0.returned.notified();
            let mut returned = std::pin::pin!(returned);
            returned.as_mut().enable();
            if self.0.region.lock().is_none() {
                return;
            }
            returned.await;
        }
    }
}

impl Drop for Lender {
    fn drop(&mut self) {
        self.0.region.lock().take();
    }
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
        let len = message.data.held();
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
            .fetch_sub(message.data.held(), Ordering::AcqRel);
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
    /// A blocking send of at least this many bytes to another rank lends its buffer rather
    /// than copying it ([`Loan`]), and returns once the receiver has copied it.
    fn eager_limit(&self) -> usize;
    /// Sends `data` to rank `dest` (returns once the message is queued there).
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
            data: Payload::Owned(Bytes::from_static(data)),
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
        let data = |m: Option<Message>| m.map(|m| m.data.into_bytes().unwrap());
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

    #[tokio::test]
    async fn a_loan_is_copied_once_and_withdrawn_when_its_lender_goes() {
        let lent = b"lent bytes".to_vec();
        // SAFETY: `lent` outlives the lender and is not changed.
        let (loan, lender) = unsafe { Loan::lend(lent.as_ptr(), lent.len()) };
        let message = Payload::Lent(loan.clone());
        assert_eq!((message.len(), message.held()), (10, 0));
        assert_eq!(message.into_bytes().unwrap(), &lent[..]);
        lender.returned().await;
        // Once copied, it cannot be copied again.
        assert!(Payload::Lent(loan).into_bytes().is_err());

        let (loan, lender) = unsafe { Loan::lend(lent.as_ptr(), lent.len()) };
        drop(lender);
        let mut into = [0u8; 10];
        // SAFETY: `into` has room for the 10 bytes.
        assert!(unsafe { Payload::Lent(loan).copy_to(into.as_mut_ptr()) }.is_err());
        assert_eq!(into, [0u8; 10]);
    }
}
