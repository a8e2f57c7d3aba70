//! Point-to-point: sends, receives, requests, probes. A send is eager (it returns once its
//! message is in the destination's mailbox) unless it is large and blocking: then the
//! message is lent to the receiver, who copies it straight from the sender's memory, and the
//! send returns once it has (rendezvous; see `MpiWorld::eager_limit`).

use bytes::Bytes;
use wasmtime::{Caller, Result, bail};

use super::MpiView;
use super::{
    Destination, PROC_NULL, REQUEST_NULL, Receive, Request, STATUS_SIZE, Status, UNDEFINED,
    byte_len, check, complete, deliver_into, mpi, pattern, progress, progress_until, read,
    read_i32, read_i32s, receive, returned, send_bytes, send_lent, world, write_i32, write_status,
};
use crate::mpi::Lender;

/// Whether a send may lend its buffer to the receiver (the guest stays suspended until the
/// receiver has copied it), or must copy it (the guest runs on, or the buffer is about to
/// be overwritten).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handover {
    MayLend,
    Copy,
}

/// What a send names: its buffer, count and type, destination, tag and communicator.
#[derive(Clone, Copy)]
struct Outgoing {
    buf: u32,
    count: i32,
    datatype: i32,
    dest: i32,
    tag: i32,
    comm: i32,
}

/// `MPI_Send` (and `MPI_Ssend`, `MPI_Rsend`, which behave the same).
pub(super) async fn send<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buf: u32,
    count: i32,
    datatype: i32,
    dest: i32,
    tag: i32,
    comm: i32,
) -> Result<i32> {
    let lent = start_send(
        caller,
        Outgoing {
            buf,
            count,
            datatype,
            dest,
            tag,
            comm,
        },
        Handover::MayLend,
    )
    .await?;
    finish_send(caller, lent).await;
    Ok(0)
}

/// Puts a message in the destination's mailbox: lent when `handover` allows, the message is
/// large and goes to another rank (complete once the [`Lender`] is returned), else copied.
async fn start_send<T: MpiView>(
    caller: &mut Caller<'_, T>,
    send: Outgoing,
    handover: Handover,
) -> Result<Option<Lender>> {
    let Outgoing { buf, dest, tag, .. } = send;
    let mpi = mpi(caller);
    let info = mpi.comm_info(send.comm)?;
    let len = byte_len(send.count, &mpi.datatype(send.datatype)?)?;
    if dest == PROC_NULL {
        check(caller, buf, len)?;
        return Ok(None);
    }
    let lends =
        handover == Handover::MayLend && dest != info.rank && len >= world(caller)?.eager_limit();
    if !lends {
        let data = Bytes::from(read(caller, buf, len)?);
        send_bytes(caller, info, info.context, dest, tag, data).await?;
        return Ok(None);
    }
    // SAFETY: the guest stays suspended until the lender is returned or dropped: the callers
    // finish the send within the same host call, and write no guest memory the buffer
    // shares before then (`MPI_Sendrecv`'s buffers must not overlap).
    let lender = unsafe { send_lent(caller, info, info.context, dest, tag, buf, len) }.await?;
    Ok(Some(lender))
}

/// Completes a send once its lent message (if it was lent) has been copied.
async fn finish_send<T: MpiView>(caller: &mut Caller<'_, T>, lent: Option<Lender>) {
    if let Some(lender) = lent {
        returned(caller, lender).await;
    }
}

/// A receive's communicator, and its buffer's size in bytes (checked to lie in memory).
fn receive_buffer<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buf: u32,
    count: i32,
    datatype: i32,
    comm: i32,
) -> Result<(super::CommInfo, usize)> {
    let mpi = mpi(caller);
    let info = mpi.comm_info(comm)?;
    let capacity = byte_len(count, &mpi.datatype(datatype)?)?;
    check(caller, buf, capacity)?;
    Ok((info, capacity))
}

/// `MPI_Recv`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn recv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buf: u32,
    count: i32,
    datatype: i32,
    source: i32,
    tag: i32,
    comm: i32,
    status: u32,
) -> Result<i32> {
    let (info, capacity) = receive_buffer(caller, buf, count, datatype, comm)?;
    let received = if source == PROC_NULL {
        Status::EMPTY
    } else {
        let pattern = pattern(info.context, source, tag, info.size)?;
        let message = receive(caller, pattern).await?;
        deliver_into(caller, &message, buf, capacity)?
    };
    write_status(caller, status, received)?;
    Ok(0)
}

/// `MPI_Sendrecv`: the send is posted before the receive and completed after it, so a ring
/// of them cannot deadlock.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sendrecv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    dest: i32,
    sendtag: i32,
    recvbuf: u32,
    recvcount: i32,
    recvtype: i32,
    source: i32,
    recvtag: i32,
    comm: i32,
    status: u32,
) -> Result<i32> {
    let lent = start_send(
        caller,
        Outgoing {
            buf: sendbuf,
            count: sendcount,
            datatype: sendtype,
            dest,
            tag: sendtag,
            comm,
        },
        Handover::MayLend,
    )
    .await?;
    recv(
        caller, recvbuf, recvcount, recvtype, source, recvtag, comm, status,
    )
    .await?;
    finish_send(caller, lent).await;
    Ok(0)
}

/// `MPI_Sendrecv_replace`: the message is copied out (never lent) before the receive
/// overwrites it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sendrecv_replace<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buf: u32,
    count: i32,
    datatype: i32,
    dest: i32,
    sendtag: i32,
    source: i32,
    recvtag: i32,
    comm: i32,
    status: u32,
) -> Result<i32> {
    start_send(
        caller,
        Outgoing {
            buf,
            count,
            datatype,
            dest,
            tag: sendtag,
            comm,
        },
        Handover::Copy,
    )
    .await?;
    recv(caller, buf, count, datatype, source, recvtag, comm, status).await
}

/// `MPI_Isend`: copied and sent at once (the guest runs on), so the request is already
/// complete.
#[allow(clippy::too_many_arguments)]
pub(super) async fn isend<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buf: u32,
    count: i32,
    datatype: i32,
    dest: i32,
    tag: i32,
    comm: i32,
    request: u32,
) -> Result<i32> {
    check(caller, request, 4)?;
    start_send(
        caller,
        Outgoing {
            buf,
            count,
            datatype,
            dest,
            tag,
            comm,
        },
        Handover::Copy,
    )
    .await?;
    let handle = mpi(caller).new_request(Request::Done(Status::EMPTY));
    write_i32(caller, request, handle)?;
    Ok(0)
}

/// `MPI_Irecv`: posts the receive; it takes its message before any receive posted later.
#[allow(clippy::too_many_arguments)]
pub(super) async fn irecv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buf: u32,
    count: i32,
    datatype: i32,
    source: i32,
    tag: i32,
    comm: i32,
    request: u32,
) -> Result<i32> {
    let (info, capacity) = receive_buffer(caller, buf, count, datatype, comm)?;
    check(caller, request, 4)?;
    let posted = if source == PROC_NULL {
        Request::Done(Status::EMPTY)
    } else {
        Request::Pending(Receive {
            pattern: pattern(info.context, source, tag, info.size)?,
            into: Destination::Guest { buf, capacity },
            freed: false,
        })
    };
    let handle = mpi(caller).new_request(posted);
    write_i32(caller, request, handle)?;
    Ok(0)
}

/// `MPI_Wait`.
pub(super) async fn wait<T: MpiView>(
    caller: &mut Caller<'_, T>,
    request: u32,
    status: u32,
) -> Result<i32> {
    let handle = read_i32(caller, request)?;
    let done = complete(caller, handle).await?;
    write_i32(caller, request, REQUEST_NULL)?;
    write_status(caller, status, done)?;
    Ok(0)
}

/// `MPI_Waitall`.
pub(super) async fn waitall<T: MpiView>(
    caller: &mut Caller<'_, T>,
    count: i32,
    requests: u32,
    statuses: u32,
) -> Result<i32> {
    let count = usize::try_from(count).map_err(|_| wasmtime::format_err!("negative count"))?;
    let handles = read_i32s(caller, requests, count)?;
    if statuses != 0 {
        check(caller, statuses, count * STATUS_SIZE as usize)?;
    }
    for (i, handle) in handles.into_iter().enumerate() {
        let done = complete(caller, handle).await?;
        write_i32(caller, requests + 4 * i as u32, REQUEST_NULL)?;
        if statuses != 0 {
            write_status(caller, statuses + STATUS_SIZE * i as u32, done)?;
        }
    }
    Ok(0)
}

/// `MPI_Waitany`: the first of the requests to complete (`MPI_UNDEFINED` if all are null).
pub(super) async fn waitany<T: MpiView>(
    caller: &mut Caller<'_, T>,
    count: i32,
    requests: u32,
    index: u32,
    status: u32,
) -> Result<i32> {
    let count = usize::try_from(count).map_err(|_| wasmtime::format_err!("negative count"))?;
    let handles = read_i32s(caller, requests, count)?;
    check(caller, index, 4)?;
    for &handle in &handles {
        if handle != REQUEST_NULL && !mpi(caller).requests.contains_key(&handle) {
            bail!("unknown request {handle}");
        }
    }
    if handles.iter().all(|&h| h == REQUEST_NULL) {
        write_i32(caller, index, UNDEFINED)?;
        return write_status(caller, status, Status::EMPTY).map(|()| 0);
    }
    let (i, done) = progress_until(caller, None, |mpi, _| {
        handles
            .iter()
            .enumerate()
            .find_map(|(i, h)| match mpi.requests.get(h) {
                Some(Request::Done(status)) => Some((i, *status)),
                _ => None,
            })
    })
    .await?;
    mpi(caller).requests.remove(&handles[i]);
    write_i32(caller, requests + 4 * i as u32, REQUEST_NULL)?;
    write_i32(caller, index, i as i32)?;
    write_status(caller, status, done)?;
    Ok(0)
}

/// `MPI_Test`: completes the request if its message is there, without waiting.
pub(super) async fn test<T: MpiView>(
    caller: &mut Caller<'_, T>,
    request: u32,
    flag: u32,
    status: u32,
) -> Result<i32> {
    let handle = read_i32(caller, request)?;
    check(caller, flag, 4)?;
    progress(caller)?;
    let done = match mpi(caller).requests.get(&handle) {
        _ if handle == REQUEST_NULL => Some(Status::EMPTY),
        Some(Request::Done(status)) => Some(*status),
        Some(Request::Pending(_)) => None,
        None => bail!("unknown request {handle}"),
    };
    write_i32(caller, flag, i32::from(done.is_some()))?;
    if let Some(done) = done {
        mpi(caller).requests.remove(&handle);
        write_i32(caller, request, REQUEST_NULL)?;
        write_status(caller, status, done)?;
    }
    Ok(0)
}

/// `MPI_Request_free`: a pending receive still takes its message, into its buffer.
pub(super) async fn request_free<T: MpiView>(
    caller: &mut Caller<'_, T>,
    request: u32,
) -> Result<i32> {
    let handle = read_i32(caller, request)?;
    match mpi(caller).requests.get_mut(&handle) {
        Some(Request::Pending(receive)) => receive.freed = true,
        Some(Request::Done(_)) => {
            mpi(caller).requests.remove(&handle);
        }
        None => bail!("unknown request {handle}"),
    }
    write_i32(caller, request, REQUEST_NULL)?;
    Ok(0)
}

/// `MPI_Get_count`: whole items of `datatype` in the received message, else `MPI_UNDEFINED`.
pub(super) async fn get_count<T: MpiView>(
    caller: &mut Caller<'_, T>,
    status: u32,
    datatype: i32,
    count: u32,
) -> Result<i32> {
    let bytes = read_i32(caller, status + 12)?;
    let size = mpi(caller).datatype(datatype)?.size() as i32;
    let items = match size {
        0 => 0,
        size if bytes % size == 0 => bytes / size,
        _ => UNDEFINED,
    };
    write_i32(caller, count, items)?;
    Ok(0)
}

/// `MPI_Probe`: waits for a message `receive` would take, and describes it.
pub(super) async fn probe<T: MpiView>(
    caller: &mut Caller<'_, T>,
    source: i32,
    tag: i32,
    comm: i32,
    status: u32,
) -> Result<i32> {
    let info = mpi(caller).comm_info(comm)?;
    let pattern = pattern(info.context, source, tag, info.size)?;
    let found = progress_until(caller, Some(pattern), |_, world| {
        world.mailbox().peek(&pattern)
    })
    .await?;
    write_status(caller, status, found_status(found))?;
    Ok(0)
}

/// `MPI_Iprobe`: like `MPI_Probe`, without waiting.
pub(super) async fn iprobe<T: MpiView>(
    caller: &mut Caller<'_, T>,
    source: i32,
    tag: i32,
    comm: i32,
    flag: u32,
    status: u32,
) -> Result<i32> {
    let info = mpi(caller).comm_info(comm)?;
    let pattern = pattern(info.context, source, tag, info.size)?;
    progress(caller)?;
    let found = super::world(caller)?.mailbox().peek(&pattern);
    write_i32(caller, flag, i32::from(found.is_some()))?;
    if let Some(found) = found {
        write_status(caller, status, found_status(found))?;
    }
    Ok(0)
}

fn found_status((envelope, bytes): (crate::mpi::Envelope, usize)) -> Status {
    Status {
        source: envelope.source,
        tag: envelope.tag,
        bytes,
    }
}
