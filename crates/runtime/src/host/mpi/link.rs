//! Linking the `faasm_mpi` imports, and the environment calls: init and finalize,
//! communicators, datatypes, clocks. Unsupported calls that `mpi.h` declares are linked too,
//! as traps naming them.

use wasmtime::{Caller, FuncType, Linker, Result, ValType, bail, format_err};

use super::MpiView;
use super::collectives::Across;
use super::datatypes::Datatype;
use super::{
    COMM_NULL, COMM_WORLD, Comm, collectives, mpi, p2p, read_i32, topology, write, write_i32,
};

/// The import module of `mpi.h`.
const MODULE: &str = "faasm_mpi";

/// Calls `mpi.h` declares but faasm-rs does not support, with their number of arguments.
const UNSUPPORTED: &[(&str, usize)] = &[
    ("MPI_Comm_split", 4),
    ("MPI_Comm_create", 3),
    ("MPI_Comm_group", 2),
    ("MPI_Comm_compare", 3),
    ("MPI_Comm_set_errhandler", 2),
    ("MPI_Bsend", 6),
    ("MPI_Issend", 7),
    ("MPI_Testall", 4),
    ("MPI_Testany", 5),
    ("MPI_Waitsome", 5),
    ("MPI_Cancel", 1),
    ("MPI_Exscan", 6),
    ("MPI_Ibcast", 6),
    ("MPI_Iallreduce", 7),
    ("MPI_Type_vector", 5),
    ("MPI_Type_indexed", 5),
    ("MPI_Type_create_struct", 5),
    ("MPI_Pack", 7),
    ("MPI_Unpack", 7),
    ("MPI_Win_create", 6),
    ("MPI_Win_fence", 2),
    ("MPI_Win_free", 1),
    ("MPI_Put", 8),
    ("MPI_Get", 8),
];

/// Links `MPI_<name>` to `function(&mut caller, [fixed...,] args...)`; an error names the
/// call.
macro_rules! import {
    ($linker:expr, $name:literal, $function:path $([$($fixed:expr),*])?, ($($arg:ident: $ty:ty),*)) => {
        $linker.func_wrap_async(
            MODULE,
            $name,
            |mut caller: Caller<'_, T>, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    $function(&mut caller, $($($fixed,)*)? $($arg),*)
                        .await
                        .map_err(|e| format_err!("{}: {e:#}", $name))
                })
            },
        )?;
    };
}

pub(in crate::host) fn add_to_linker<T: MpiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    import!(linker, "MPI_Init", init, (_argc: u32, _argv: u32));
    import!(linker, "MPI_Init_thread", init_thread, (_argc: u32, _argv: u32, required: i32, provided: u32));
    import!(linker, "MPI_Initialized", initialized, (flag: u32));
    import!(linker, "MPI_Finalize", finalize, ());
    import!(linker, "MPI_Finalized", finalized, (flag: u32));
    import!(linker, "MPI_Abort", abort, (comm: i32, code: i32));
    import!(linker, "MPI_Get_processor_name", processor_name, (name: u32, len: u32));
    import!(linker, "MPI_Get_version", get_version, (version: u32, subversion: u32));
    import!(linker, "MPI_Query_thread", query_thread, (provided: u32));
    linker.func_wrap(MODULE, "MPI_Wtime", || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    })?;
    linker.func_wrap(MODULE, "MPI_Wtick", || 1e-9f64)?;

    import!(linker, "MPI_Comm_size", comm_size, (comm: i32, size: u32));
    import!(linker, "MPI_Comm_rank", comm_rank, (comm: i32, rank: u32));
    import!(linker, "MPI_Comm_dup", comm_dup, (comm: i32, newcomm: u32));
    import!(linker, "MPI_Comm_free", comm_free, (comm: u32));

    import!(linker, "MPI_Send", p2p::send, (buf: u32, count: i32, datatype: i32, dest: i32, tag: i32, comm: i32));
    import!(linker, "MPI_Ssend", p2p::send, (buf: u32, count: i32, datatype: i32, dest: i32, tag: i32, comm: i32));
    import!(linker, "MPI_Rsend", p2p::send, (buf: u32, count: i32, datatype: i32, dest: i32, tag: i32, comm: i32));
    import!(linker, "MPI_Recv", p2p::recv, (buf: u32, count: i32, datatype: i32, source: i32, tag: i32, comm: i32, status: u32));
    import!(linker, "MPI_Sendrecv", p2p::sendrecv, (
        sendbuf: u32, sendcount: i32, sendtype: i32, dest: i32, sendtag: i32,
        recvbuf: u32, recvcount: i32, recvtype: i32, source: i32, recvtag: i32, comm: i32, status: u32));
    import!(linker, "MPI_Sendrecv_replace", p2p::sendrecv_replace, (
        buf: u32, count: i32, datatype: i32, dest: i32, sendtag: i32, source: i32, recvtag: i32, comm: i32, status: u32));
    import!(linker, "MPI_Isend", p2p::isend, (buf: u32, count: i32, datatype: i32, dest: i32, tag: i32, comm: i32, request: u32));
    import!(linker, "MPI_Irecv", p2p::irecv, (buf: u32, count: i32, datatype: i32, source: i32, tag: i32, comm: i32, request: u32));
    import!(linker, "MPI_Wait", p2p::wait, (request: u32, status: u32));
    import!(linker, "MPI_Waitall", p2p::waitall, (count: i32, requests: u32, statuses: u32));
    import!(linker, "MPI_Waitany", p2p::waitany, (count: i32, requests: u32, index: u32, status: u32));
    import!(linker, "MPI_Test", p2p::test, (request: u32, flag: u32, status: u32));
    import!(linker, "MPI_Request_free", p2p::request_free, (request: u32));
    import!(linker, "MPI_Get_count", p2p::get_count, (status: u32, datatype: i32, count: u32));
    import!(linker, "MPI_Probe", p2p::probe, (source: i32, tag: i32, comm: i32, status: u32));
    import!(linker, "MPI_Iprobe", p2p::iprobe, (source: i32, tag: i32, comm: i32, flag: u32, status: u32));

    import!(linker, "MPI_Barrier", collectives::barrier, (comm: i32));
    import!(linker, "MPI_Bcast", collectives::bcast, (buffer: u32, count: i32, datatype: i32, root: i32, comm: i32));
    import!(linker, "MPI_Scatter", collectives::scatter, (
        sendbuf: u32, sendcount: i32, sendtype: i32, recvbuf: u32, recvcount: i32, recvtype: i32, root: i32, comm: i32));
    import!(linker, "MPI_Scatterv", collectives::scatterv, (
        sendbuf: u32, sendcounts: u32, displs: u32, sendtype: i32, recvbuf: u32, recvcount: i32, recvtype: i32,
        root: i32, comm: i32));
    import!(linker, "MPI_Gather", collectives::gather, (
        sendbuf: u32, sendcount: i32, sendtype: i32, recvbuf: u32, recvcount: i32, recvtype: i32, root: i32, comm: i32));
    import!(linker, "MPI_Gatherv", collectives::gatherv, (
        sendbuf: u32, sendcount: i32, sendtype: i32, recvbuf: u32, recvcounts: u32, displs: u32, recvtype: i32,
        root: i32, comm: i32));
    import!(linker, "MPI_Allgather", collectives::allgather, (
        sendbuf: u32, sendcount: i32, sendtype: i32, recvbuf: u32, recvcount: i32, recvtype: i32, comm: i32));
    import!(linker, "MPI_Allgatherv", collectives::allgatherv, (
        sendbuf: u32, sendcount: i32, sendtype: i32, recvbuf: u32, recvcounts: u32, displs: u32, recvtype: i32,
        comm: i32));
    import!(linker, "MPI_Reduce", collectives::reduce, (
        sendbuf: u32, recvbuf: u32, count: i32, datatype: i32, op: i32, root: i32, comm: i32));
    import!(linker, "MPI_Allreduce", collectives::reduce_across[Across::All], (
        sendbuf: u32, recvbuf: u32, count: i32, datatype: i32, op: i32, comm: i32));
    import!(linker, "MPI_Reduce_scatter", collectives::reduce_scatter, (
        sendbuf: u32, recvbuf: u32, recvcounts: u32, datatype: i32, op: i32, comm: i32));
    import!(linker, "MPI_Scan", collectives::reduce_across[Across::Prefix], (
        sendbuf: u32, recvbuf: u32, count: i32, datatype: i32, op: i32, comm: i32));
    import!(linker, "MPI_Alltoall", collectives::alltoall, (
        sendbuf: u32, sendcount: i32, sendtype: i32, recvbuf: u32, recvcount: i32, recvtype: i32, comm: i32));
    import!(linker, "MPI_Alltoallv", collectives::alltoallv, (
        sendbuf: u32, sendcounts: u32, sdispls: u32, sendtype: i32, recvbuf: u32, recvcounts: u32, rdispls: u32,
        recvtype: i32, comm: i32));
    import!(linker, "MPI_Op_create", collectives::op_create, (function: u32, commute: i32, op: u32));
    import!(linker, "MPI_Op_free", collectives::op_free, (op: u32));

    import!(linker, "MPI_Type_size", type_size, (datatype: i32, size: u32));
    import!(linker, "MPI_Type_contiguous", type_contiguous, (count: i32, oldtype: i32, newtype: u32));
    import!(linker, "MPI_Type_commit", type_commit, (datatype: u32));
    import!(linker, "MPI_Type_free", type_free, (datatype: u32));

    import!(linker, "MPI_Dims_create", topology::dims_create_call, (nnodes: i32, ndims: i32, dims: u32));
    import!(linker, "MPI_Cart_create", topology::cart_create, (
        comm: i32, ndims: i32, dims: u32, periods: u32, reorder: i32, comm_cart: u32));
    import!(linker, "MPI_Cart_rank", topology::cart_rank, (comm: i32, coords: u32, rank: u32));
    import!(linker, "MPI_Cart_coords", topology::cart_coords, (comm: i32, rank: i32, maxdims: i32, coords: u32));
    import!(linker, "MPI_Cart_get", topology::cart_get, (
        comm: i32, maxdims: i32, dims: u32, periods: u32, coords: u32));
    import!(linker, "MPI_Cart_shift", topology::cart_shift, (
        comm: i32, direction: i32, disp: i32, source: u32, dest: u32));
    import!(linker, "MPI_Cartdim_get", topology::cartdim_get, (comm: i32, ndims: u32));

    for &(name, arity) in UNSUPPORTED {
        let ty = FuncType::new(linker.engine(), vec![ValType::I32; arity], [ValType::I32]);
        linker.func_new(MODULE, name, ty, move |_, _, _| {
            bail!("{name} is not supported by faasm-rs (see docs/mpi.md)")
        })?;
    }
    Ok(())
}

/// `MPI_Init`: joins the call's world (rank 0's first call starts the other ranks).
async fn init<T: MpiView>(caller: &mut Caller<'_, T>, _argc: u32, _argv: u32) -> Result<i32> {
    let mpi = mpi(caller);
    if mpi.world.is_some() || mpi.finalized {
        bail!("MPI is already initialised");
    }
    let host = mpi
        .host
        .clone()
        .ok_or_else(|| format_err!("this call is not an MPI call: invoke it with \"mpi\": true"))?;
    let world = host.join().await.map_err(wasmtime::Error::msg)?;
    let mpi = self::mpi(caller);
    mpi.comms.insert(
        COMM_WORLD,
        Comm {
            context: 0,
            size: world.size(),
            cart: None,
        },
    );
    mpi.world = Some(world);
    Ok(0)
}

/// `MPI_Init_thread`: a guest has one thread, so every level holds; it is granted as asked.
async fn init_thread<T: MpiView>(
    caller: &mut Caller<'_, T>,
    argc: u32,
    argv: u32,
    required: i32,
    provided: u32,
) -> Result<i32> {
    init(caller, argc, argv).await?;
    mpi(caller).thread_level = required.clamp(0, 3);
    write_i32(caller, provided, required.clamp(0, 3))?;
    Ok(0)
}

async fn query_thread<T: MpiView>(caller: &mut Caller<'_, T>, provided: u32) -> Result<i32> {
    let level = mpi(caller).thread_level;
    write_i32(caller, provided, level)?;
    Ok(0)
}

async fn initialized<T: MpiView>(caller: &mut Caller<'_, T>, flag: u32) -> Result<i32> {
    let initialized = mpi(caller).world.is_some();
    write_i32(caller, flag, i32::from(initialized))?;
    Ok(0)
}

async fn finalize<T: MpiView>(caller: &mut Caller<'_, T>) -> Result<i32> {
    let mpi = mpi(caller);
    mpi.world()?;
    mpi.finalized = true;
    Ok(0)
}

async fn finalized<T: MpiView>(caller: &mut Caller<'_, T>, flag: u32) -> Result<i32> {
    let finalized = mpi(caller).finalized;
    write_i32(caller, flag, i32::from(finalized))?;
    Ok(0)
}

/// `MPI_Abort`: fails this rank, and so the world.
async fn abort<T: MpiView>(caller: &mut Caller<'_, T>, _comm: i32, code: i32) -> Result<i32> {
    let rank = mpi(caller).world.as_ref().map(|w| w.rank());
    match rank {
        Some(rank) => bail!("rank {rank} aborted the world with error code {code}"),
        None => bail!("aborted with error code {code}"),
    }
}

async fn processor_name<T: MpiView>(
    caller: &mut Caller<'_, T>,
    name: u32,
    len: u32,
) -> Result<i32> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = match host.trim() {
        "" => "localhost",
        host => host,
    };
    // MPI_MAX_PROCESSOR_NAME bytes at most, with the NUL.
    let host = &host.as_bytes()[..host.len().min(255)];
    write(caller, name, &[host, b"\0"].concat())?;
    write_i32(caller, len, host.len() as i32)?;
    Ok(0)
}

async fn get_version<T: MpiView>(
    caller: &mut Caller<'_, T>,
    version: u32,
    subversion: u32,
) -> Result<i32> {
    write_i32(caller, version, 3)?;
    write_i32(caller, subversion, 1)?;
    Ok(0)
}

async fn comm_size<T: MpiView>(caller: &mut Caller<'_, T>, comm: i32, size: u32) -> Result<i32> {
    let info = mpi(caller).comm_info(comm)?;
    write_i32(caller, size, info.size)?;
    Ok(0)
}

async fn comm_rank<T: MpiView>(caller: &mut Caller<'_, T>, comm: i32, rank: u32) -> Result<i32> {
    let info = mpi(caller).comm_info(comm)?;
    write_i32(caller, rank, info.rank)?;
    Ok(0)
}

/// `MPI_Comm_dup`: the same ranks (and topology) with contexts of their own.
async fn comm_dup<T: MpiView>(caller: &mut Caller<'_, T>, comm: i32, newcomm: u32) -> Result<i32> {
    let mpi = mpi(caller);
    let (old, _) = mpi.comm(comm)?;
    let (size, cart) = (old.size, old.cart.clone());
    let handle = mpi.new_comm(size, cart);
    write_i32(caller, newcomm, handle)?;
    Ok(0)
}

async fn comm_free<T: MpiView>(caller: &mut Caller<'_, T>, comm: u32) -> Result<i32> {
    let handle = read_i32(caller, comm)?;
    if handle == COMM_WORLD {
        bail!("MPI_COMM_WORLD cannot be freed");
    }
    if mpi(caller).comms.remove(&handle).is_none() {
        bail!("unknown communicator {handle}");
    }
    write_i32(caller, comm, COMM_NULL)?;
    Ok(0)
}

async fn type_size<T: MpiView>(
    caller: &mut Caller<'_, T>,
    datatype: i32,
    size: u32,
) -> Result<i32> {
    let bytes = mpi(caller).datatype(datatype)?.size();
    write_i32(caller, size, bytes as i32)?;
    Ok(0)
}

/// `MPI_Type_contiguous`: `count` items of `oldtype` as one.
async fn type_contiguous<T: MpiView>(
    caller: &mut Caller<'_, T>,
    count: i32,
    oldtype: i32,
    newtype: u32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let old = mpi.datatype(oldtype)?;
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| format_err!("invalid count {count}"))?;
    let new = Datatype {
        count: old
            .count
            .checked_mul(count)
            .filter(|&c| c * old.element <= u32::MAX as usize)
            .ok_or_else(|| format_err!("the type would be too large"))?,
        ..old
    };
    let handle = mpi.next_type;
    mpi.next_type += 1;
    mpi.types.insert(handle, new);
    write_i32(caller, newtype, handle)?;
    Ok(0)
}

async fn type_commit<T: MpiView>(caller: &mut Caller<'_, T>, datatype: u32) -> Result<i32> {
    let handle = read_i32(caller, datatype)?;
    mpi(caller).datatype(handle)?;
    Ok(0)
}

async fn type_free<T: MpiView>(caller: &mut Caller<'_, T>, datatype: u32) -> Result<i32> {
    let handle = read_i32(caller, datatype)?;
    if mpi(caller).types.remove(&handle).is_none() {
        bail!("datatype {handle} is not a derived datatype");
    }
    write_i32(caller, datatype, 0)?;
    Ok(0)
}
