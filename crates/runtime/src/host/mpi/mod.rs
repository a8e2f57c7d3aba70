//! MPI (SPEC §9, docs/mpi.md): the `faasm_mpi.MPI_*` imports of `mpi.h`. This module owns a
//! call's MPI context ([`MpiCall`]: its world, communicators, derived types, user operations
//! and requests) and moves bytes between guest memory and the world's mailboxes; the world
//! itself (who the ranks are, where messages go) is the scheduler's, reached through
//! [`MpiHost`]. Every error is fatal: the rank traps with a message naming the call, and the
//! scheduler fails the world.
//!
//! Receives are matched in the order they were posted: before a rank waits for anything, the
//! pending `MPI_Irecv`s take the earliest messages they match, then the waiting receive. A
//! rank that must wait hands its worker back ([`crate::chain::idle`]).

mod collectives;
mod datatypes;
mod link;
mod p2p;
mod team;
mod topology;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::{Caller, Memory, Result, bail, format_err};

use self::datatypes::Datatype;
use self::topology::Cart;
use super::chain::ChainView;
use super::memory;
use crate::mpi::{Envelope, Lender, Loan, Message, MpiHost, MpiWorld, Pattern, Payload};

pub(super) use link::add_to_linker;

/// Where a store's data keeps its [`MpiCall`]: the projection this part links through. A
/// rank waits for messages without a worker ([`ChainView`]).
pub(crate) trait MpiView: ChainView {
    fn mpi(&mut self) -> &mut MpiCall;
}

/// Handles and special values of `mpi.h`.
const COMM_WORLD: i32 = 1;
const COMM_NULL: i32 = 0;
const REQUEST_NULL: i32 = 0;
const ANY_SOURCE: i32 = -1;
const ANY_TAG: i32 = -1;
const PROC_NULL: i32 = -2;
const UNDEFINED: i32 = -32766;
/// `MPI_IN_PLACE` is `(void*)-1`.
const IN_PLACE: u32 = u32::MAX;
/// Derived datatypes get handles from here on.
const FIRST_DERIVED_TYPE: i32 = 1000;
/// Bytes of `MPI_Status`: source, tag, error, byte count, cancelled.
const STATUS_SIZE: u32 = 20;

/// A call's MPI context.
pub(crate) struct MpiCall {
    host: Option<Arc<dyn MpiHost>>,
    memory: Option<Memory>,
    world: Option<Arc<dyn MpiWorld>>,
    finalized: bool,
    /// What `MPI_Init_thread` granted (`MPI_THREAD_SINGLE` after `MPI_Init`).
    thread_level: i32,
    comms: HashMap<i32, Comm>,
    next_comm: i32,
    /// Every communicator has two contexts, `c` for user messages and `c + 1` for collectives;
    /// they are numbered in creation order, the same on every rank (creation is collective).
    next_context: u32,
    types: HashMap<i32, Datatype>,
    next_type: i32,
    /// User operations: function-table index and whether they commute.
    ops: HashMap<i32, (u32, bool)>,
    next_op: i32,
    requests: HashMap<i32, Request>,
    next_request: i32,
    /// Pending receives (requests), in the order they were posted.
    posted: Vec<i32>,
}

#[derive(Clone)]
struct Comm {
    context: u32,
    size: i32,
    cart: Option<Cart>,
}

/// What a collective or send needs of a communicator.
#[derive(Clone, Copy)]
pub(crate) struct CommInfo {
    context: u32,
    rank: i32,
    size: i32,
}

/// What `MPI_Status` reports.
#[derive(Clone, Copy)]
struct Status {
    source: i32,
    tag: i32,
    bytes: usize,
}

impl Status {
    const EMPTY: Status = Status {
        source: PROC_NULL,
        tag: ANY_TAG,
        bytes: 0,
    };
}

enum Request {
    Done(Status),
    Pending(Receive),
}

/// A posted receive, and where its data goes.
struct Receive {
    pattern: Pattern,
    into: Destination,
    /// `MPI_Request_free`d while pending: dropped once complete.
    freed: bool,
}

enum Destination {
    /// `capacity` bytes of guest memory at `buf`.
    Guest { buf: u32, capacity: usize },
    /// The host keeps the message (collectives and blocking receives).
    Host(Option<Message>),
}

impl MpiCall {
    pub fn new(host: Option<Arc<dyn MpiHost>>) -> Self {
        Self {
            host,
            memory: None,
            world: None,
            finalized: false,
            thread_level: 0,
            comms: HashMap::new(),
            next_comm: COMM_WORLD + 1,
            next_context: 2,
            types: HashMap::new(),
            next_type: FIRST_DERIVED_TYPE,
            ops: HashMap::new(),
            next_op: datatypes::FIRST_USER_OP,
            requests: HashMap::new(),
            next_request: REQUEST_NULL + 1,
            posted: Vec::new(),
        }
    }

    fn world(&self) -> Result<&Arc<dyn MpiWorld>> {
        match &self.world {
            Some(world) if !self.finalized => Ok(world),
            Some(_) => bail!("called after MPI_Finalize"),
            None => bail!("called before MPI_Init"),
        }
    }

    fn comm(&self, handle: i32) -> Result<(&Comm, i32)> {
        let rank = self.world()?.rank();
        match self.comms.get(&handle) {
            Some(comm) => Ok((comm, rank)),
            None if handle == COMM_NULL => bail!("MPI_COMM_NULL is not a communicator"),
            None => bail!("unknown communicator {handle}"),
        }
    }

    fn comm_info(&self, handle: i32) -> Result<CommInfo> {
        let (comm, rank) = self.comm(handle)?;
        Ok(CommInfo {
            context: comm.context,
            rank,
            size: comm.size,
        })
    }

    /// Registers a new communicator over ranks `0..size` and returns its handle.
    fn new_comm(&mut self, size: i32, cart: Option<Cart>) -> i32 {
        let context = self.next_context;
        self.next_context += 2;
        let handle = self.next_comm;
        self.next_comm += 1;
        self.comms.insert(
            handle,
            Comm {
                context,
                size,
                cart,
            },
        );
        handle
    }

    fn datatype(&self, handle: i32) -> Result<Datatype> {
        if let Some((datatype, _)) = datatypes::builtin(handle) {
            return Ok(datatype);
        }
        self.types
            .get(&handle)
            .copied()
            .ok_or_else(|| format_err!("unknown datatype {handle}"))
    }

    fn new_request(&mut self, request: Request) -> i32 {
        let handle = self.next_request;
        self.next_request = self.next_request.checked_add(1).unwrap_or(REQUEST_NULL + 1);
        if let Request::Pending(_) = request {
            self.posted.push(handle);
        }
        self.requests.insert(handle, request);
        handle
    }

    /// The patterns of the pending receives, in post order.
    fn posted_patterns(&self) -> Vec<Pattern> {
        self.posted
            .iter()
            .filter_map(|h| match self.requests.get(h) {
                Some(Request::Pending(receive)) => Some(receive.pattern),
                _ => None,
            })
            .collect()
    }
}

fn mpi<'a, T: MpiView>(caller: &'a mut Caller<'_, T>) -> &'a mut MpiCall {
    caller.data_mut().mpi()
}

fn world<T: MpiView>(caller: &mut Caller<'_, T>) -> Result<Arc<dyn MpiWorld>> {
    caller.data_mut().mpi().world().cloned()
}

/// `count` items of `datatype` in bytes, checked.
fn byte_len(count: i32, datatype: &Datatype) -> Result<usize> {
    let count = usize::try_from(count).map_err(|_| format_err!("negative count {count}"))?;
    count
        .checked_mul(datatype.size())
        .filter(|&n| n <= u32::MAX as usize)
        .ok_or_else(|| format_err!("{count} items of {} bytes overflow", datatype.size()))
}

/// `len` as a guest length: more than 4 GiB can never lie inside a wasm32 memory.
fn guest_len(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| format_err!("{len} bytes exceed a wasm32 memory"))
}

/// The guest's linear memory, looked up once per call (by name, which costs more than a
/// small message's copy).
fn guest_memory<T: MpiView>(caller: &mut Caller<'_, T>) -> Result<Memory> {
    if let Some(memory) = mpi(caller).memory {
        return Ok(memory);
    }
    let memory = memory::exported(caller)?;
    mpi(caller).memory = Some(memory);
    Ok(memory)
}

/// A copy of `len` bytes of guest memory at `ptr`, bounds-checked.
fn read<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32, len: usize) -> Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let data = memory.data(&caller);
    Ok(data[memory::range(data, ptr, guest_len(len)?)?].to_vec())
}

/// Checks that `len` bytes at `ptr` lie inside guest memory.
fn check<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32, len: usize) -> Result<()> {
    let memory = guest_memory(caller)?;
    memory::range(memory.data(&caller), ptr, guest_len(len)?).map(drop)
}

fn write<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32, bytes: &[u8]) -> Result<()> {
    let memory = guest_memory(caller)?;
    let data = memory.data_mut(&mut *caller);
    let range = memory::range(data, ptr, guest_len(bytes.len())?)?;
    data[range].copy_from_slice(bytes);
    Ok(())
}

/// Copies `len` bytes of guest memory from `from` to `to` (both checked).
fn copy_within<T: MpiView>(
    caller: &mut Caller<'_, T>,
    from: u32,
    to: u32,
    len: usize,
) -> Result<()> {
    let memory = guest_memory(caller)?;
    let data = memory.data_mut(&mut *caller);
    let source = memory::range(data, from, guest_len(len)?)?;
    let dest = memory::range(data, to, guest_len(len)?)?;
    data.copy_within(source, dest.start);
    Ok(())
}

/// Copies a message's bytes to guest memory at `ptr` (returning a loan to its sender).
fn write_payload<T: MpiView>(
    caller: &mut Caller<'_, T>,
    ptr: u32,
    payload: &Payload,
) -> Result<()> {
    let memory = guest_memory(caller)?;
    let range = memory::range(memory.data(&caller), ptr, guest_len(payload.len())?)?;
    // SAFETY: the range lies inside this rank's memory, which only this (suspended) guest
    // and this host call use; a raw pointer, not a slice of the whole memory, because part
    // of it may be lent to another rank meanwhile (`MPI_Sendrecv`).
    unsafe {
        let dest = memory.data_ptr(&caller).add(range.start);
        payload.copy_to(dest)?;
    }
    Ok(())
}

/// Sends `len` bytes of guest memory at `buf` (checked) as a loan: the receiver copies them
/// straight into its own memory, and the send is complete once the [`Lender`] is returned
/// ([`returned`]).
///
/// # Safety
/// The guest must not run, and nothing may write those bytes, until the [`Lender`] is
/// dropped or has been returned: the caller waits for that inside the same host call.
#[allow(clippy::too_many_arguments)]
async unsafe fn send_lent<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    context: u32,
    dest: i32,
    tag: i32,
    buf: u32,
    len: usize,
) -> Result<Lender> {
    let memory = guest_memory(caller)?;
    let range = memory::range(memory.data(&caller), buf, guest_len(len)?)?;
    // SAFETY: the range lies inside guest memory, which cannot move or shrink while the
    // guest is suspended in this call; the caller keeps it unchanged.
    let (loan, lender) = unsafe { Loan::lend(memory.data_ptr(&caller).add(range.start), len) };
    send_payload(caller, comm, context, dest, tag, Payload::Lent(loan)).await?;
    Ok(lender)
}

/// Waits, without a worker, until the receiver of a lent message has copied it.
async fn returned<T: MpiView>(caller: &mut Caller<'_, T>, lender: Lender) {
    caller.data_mut().chaining().idle(lender.returned()).await;
}

fn write_i32<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32, value: i32) -> Result<()> {
    write(caller, ptr, &value.to_le_bytes())
}

fn read_i32s<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32, count: usize) -> Result<Vec<i32>> {
    let bytes = read(caller, ptr, count.saturating_mul(4))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect())
}

fn read_i32<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32) -> Result<i32> {
    Ok(read_i32s(caller, ptr, 1)?[0])
}

/// Fills an `MPI_Status` unless it is `MPI_STATUS_IGNORE`.
fn write_status<T: MpiView>(caller: &mut Caller<'_, T>, ptr: u32, status: Status) -> Result<()> {
    if ptr == 0 {
        return Ok(());
    }
    let fields = [status.source, status.tag, 0, status.bytes as i32, 0];
    let bytes: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
    write(caller, ptr, &bytes)
}

/// A receive's pattern on `context`, checking the source against the communicator's size.
fn pattern(context: u32, source: i32, tag: i32, size: i32) -> Result<Pattern> {
    let source = match source {
        ANY_SOURCE => None,
        s if (0..size).contains(&s) => Some(s),
        s => bail!("source rank {s} is not in a communicator of {size} ranks"),
    };
    let tag = match tag {
        ANY_TAG => None,
        t if t >= 0 => Some(t),
        t => bail!("invalid tag {t}"),
    };
    Ok(Pattern {
        context,
        source,
        tag,
    })
}

/// Sends `data` as rank `comm.rank` of `comm`, on `context`.
async fn send_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    context: u32,
    dest: i32,
    tag: i32,
    data: Bytes,
) -> Result<()> {
    send_payload(caller, comm, context, dest, tag, Payload::Owned(data)).await
}

/// Sends `data` as rank `comm.rank` of `comm`, on `context`.
async fn send_payload<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    context: u32,
    dest: i32,
    tag: i32,
    data: Payload,
) -> Result<()> {
    if !(0..comm.size).contains(&dest) {
        bail!(
            "destination rank {dest} is not in a communicator of {} ranks",
            comm.size
        );
    }
    if tag < 0 {
        bail!("invalid tag {tag}");
    }
    let world = world(caller)?;
    let envelope = Envelope {
        context,
        source: comm.rank,
        tag,
    };
    world
        .send(dest, Message { envelope, data })
        .await
        .map_err(wasmtime::Error::msg)
}

/// Completes every pending receive whose message has arrived, earliest posted first.
fn progress<T: MpiView>(caller: &mut Caller<'_, T>) -> Result<()> {
    let world = world(caller)?;
    let mailbox = world.mailbox();
    let posted = std::mem::take(&mut mpi(caller).posted);
    let mut still = Vec::with_capacity(posted.len());
    for handle in posted {
        let Some(Request::Pending(receive)) = mpi(caller).requests.get(&handle) else {
            continue;
        };
        let Some(message) = mailbox.take(&receive.pattern) else {
            still.push(handle);
            continue;
        };
        let (pattern, freed) = (receive.pattern, receive.freed);
        let guest = match receive.into {
            Destination::Guest { buf, capacity } => Some((buf, capacity)),
            Destination::Host(_) => None,
        };
        let done = match guest {
            Some((buf, capacity)) => Request::Done(deliver_into(caller, &message, buf, capacity)?),
            None => Request::Pending(Receive {
                pattern,
                into: Destination::Host(Some(message)),
                freed,
            }),
        };
        let requests = &mut mpi(caller).requests;
        if freed {
            requests.remove(&handle);
        } else {
            requests.insert(handle, done);
        }
    }
    mpi(caller).posted = still;
    Ok(())
}

/// Copies `message` into the receive buffer of `capacity` bytes at `buf`; its status.
fn deliver_into<T: MpiView>(
    caller: &mut Caller<'_, T>,
    message: &Message,
    buf: u32,
    capacity: usize,
) -> Result<Status> {
    let len = message.data.len();
    if len > capacity {
        bail!("message of {len} bytes truncated: the receive buffer holds {capacity}");
    }
    write_payload(caller, buf, &message.data)?;
    Ok(Status {
        source: message.envelope.source,
        tag: message.envelope.tag,
        bytes: len,
    })
}

/// Makes progress until `ready` answers `Some`, waiting (without a worker) for messages that a
/// pending receive or `extra` matches.
async fn progress_until<R, T: MpiView>(
    caller: &mut Caller<'_, T>,
    extra: Option<Pattern>,
    mut ready: impl FnMut(&mut MpiCall, &dyn MpiWorld) -> Option<R>,
) -> Result<R> {
    let world = world(caller)?;
    loop {
        progress(caller)?;
        if let Some(value) = ready(mpi(caller), &*world) {
            return Ok(value);
        }
        let mut patterns = mpi(caller).posted_patterns();
        patterns.extend(extra);
        let arrival = world.mailbox().wait_for(|mailbox| {
            patterns
                .iter()
                .any(|p| mailbox.peek(p).is_some())
                .then_some(())
        });
        caller.data_mut().chaining().idle(arrival).await;
    }
}

/// Receives the earliest message `pattern` matches, after the receives posted before it.
async fn receive<T: MpiView>(caller: &mut Caller<'_, T>, pattern: Pattern) -> Result<Message> {
    if mpi(caller).posted.is_empty() {
        // Nothing posted earlier comes first: the message is this receive's if it is here.
        if let Some(message) = world(caller)?.mailbox().take(&pattern) {
            return Ok(message);
        }
    }
    let handle = mpi(caller).new_request(Request::Pending(Receive {
        pattern,
        into: Destination::Host(None),
        freed: false,
    }));
    progress_until(caller, None, |mpi, _| {
        let arrived = matches!(
            mpi.requests.get(&handle),
            Some(Request::Pending(Receive {
                into: Destination::Host(Some(_)),
                ..
            }))
        );
        if !arrived {
            return None;
        }
        match mpi.requests.remove(&handle) {
            Some(Request::Pending(Receive {
                into: Destination::Host(Some(message)),
                ..
            })) => Some(message),
            _ => None,
        }
    })
    .await
}

/// Waits for request `handle` to complete and retires it, returning its status.
async fn complete<T: MpiView>(caller: &mut Caller<'_, T>, handle: i32) -> Result<Status> {
    if handle == REQUEST_NULL {
        return Ok(Status::EMPTY);
    }
    if !mpi(caller).requests.contains_key(&handle) {
        bail!("unknown request {handle}");
    }
    progress_until(caller, None, |mpi, _| match mpi.requests.get(&handle) {
        Some(Request::Done(status)) => {
            let status = *status;
            mpi.requests.remove(&handle);
            Some(status)
        }
        _ => None,
    })
    .await
}
