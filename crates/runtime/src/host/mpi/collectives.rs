//! Collectives, built on point-to-point messages in the communicator's collective context
//! (so they never match user messages): binomial-tree broadcast and reduce, recursive
//! doubling allreduce (a ring for large buffers; reduce + broadcast when the operation does
//! not commute or the size is not a power of two), dissemination barrier, ring allgather,
//! pairwise all-to-all, linear gather/scatter at the root and a chain for scan. A
//! non-commutative user operation is applied in rank order.
//!
//! When a communicator's ranks span hosts, barrier, broadcast, reduce, allreduce, gather
//! and scatter run in two levels ([`Team`], [`Hosts`]): within each host to a leader, among the leaders,
//! and back within each host, so a broadcast crosses to each other host once. The scan chain
//! and the reduce of `Reduce_scatter` follow the hosts' consecutive ranks as they are.

use bytes::Bytes;
use wasmtime::{Caller, Result, bail, format_err};

use super::MpiView;
use super::datatypes::{self, Datatype};
use super::team::{Hosts, Team};
use super::{
    CommInfo, IN_PLACE, byte_len, check, copy_within, deliver_into, mpi, read, read_i32s, receive,
    returned, send_bytes, send_lent, world, write,
};
use crate::mpi::Pattern;

const BARRIER: i32 = 1;
const BCAST: i32 = 2;
const REDUCE: i32 = 3;
const GATHER: i32 = 4;
const SCATTER: i32 = 5;
const ALLGATHER: i32 = 6;
const ALLTOALL: i32 = 7;
const SCAN: i32 = 8;
const ALLREDUCE: i32 = 9;

async fn send_to<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    dest: i32,
    tag: i32,
    data: Bytes,
) -> Result<()> {
    send_bytes(caller, comm, comm.context + 1, dest, tag, data).await
}

async fn recv_from<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    source: i32,
    tag: i32,
) -> Result<Bytes> {
    let message = receive(caller, collective(comm, source, tag)).await?;
    Ok(message.data.into_bytes()?)
}

/// What a collective's receive from `source` with `tag` accepts.
fn collective(comm: CommInfo, source: i32, tag: i32) -> Pattern {
    Pattern {
        context: comm.context + 1,
        source: Some(source),
        tag: Some(tag),
    }
}

/// A reduction: the operation and the datatype it is applied to.
#[derive(Clone, Copy)]
struct Reduction {
    op: i32,
    datatype: Datatype,
    datatype_handle: i32,
    /// A user operation: its function-table index and whether it commutes.
    user: Option<(u32, bool)>,
}

impl Reduction {
    fn new<T: MpiView>(caller: &mut Caller<'_, T>, op: i32, datatype: i32) -> Result<Self> {
        let mpi = mpi(caller);
        let user = if op >= datatypes::FIRST_USER_OP {
            let found = mpi.ops.get(&op).copied();
            Some(found.ok_or_else(|| format_err!("unknown operation {op}"))?)
        } else if datatypes::builtin(datatype).is_none() {
            // As the standard says: built-in operations take built-in datatypes only.
            bail!(
                "{} is not defined for derived datatypes",
                datatypes::op_name(op)
            );
        } else if (1..=datatypes::MINLOC).contains(&op) {
            None
        } else {
            bail!("unknown operation {op}");
        };
        Ok(Self {
            op,
            datatype: mpi.datatype(datatype)?,
            datatype_handle: datatype,
            user,
        })
    }

    fn commutes(&self) -> bool {
        self.user.is_none_or(|(_, commute)| commute)
    }

    /// `inout = input ∘ inout`.
    async fn apply<T: MpiView>(
        &self,
        caller: &mut Caller<'_, T>,
        input: &[u8],
        inout: &mut [u8],
    ) -> Result<()> {
        match self.user {
            None => datatypes::reduce(self.op, &self.datatype, input, inout),
            Some((index, _)) => self.apply_user(caller, index, input, inout).await,
        }
    }

    /// Calls the guest's `MPI_User_function` on copies placed in its own memory (scratch from
    /// the `__faasm_mpi_alloc` that `mpi.h` exports).
    async fn apply_user<T: MpiView>(
        &self,
        caller: &mut Caller<'_, T>,
        index: u32,
        input: &[u8],
        inout: &mut [u8],
    ) -> Result<()> {
        let alloc = export_func::<i32, i32, T>(caller, "__faasm_mpi_alloc")?;
        let free = export_func::<i32, (), T>(caller, "__faasm_mpi_free")?;
        let n = input.len();
        let total = i32::try_from(2 * n + 8).map_err(|_| format_err!("buffer too large"))?;
        let base = alloc.call_async(&mut *caller, total).await? as u32;
        if base == 0 {
            bail!("the guest could not allocate {total} bytes for a user operation");
        }
        let count = (n / self.datatype.size().max(1)) as i32;
        // n < total, which fits an i32.
        let inptr = base;
        let inoutptr = at(inptr, n as u32)?;
        let lenptr = at(inoutptr, n as u32)?;
        let typeptr = at(lenptr, 4)?;
        write(caller, inptr, input)?;
        write(caller, inoutptr, inout)?;
        write(caller, lenptr, &count.to_le_bytes())?;
        write(caller, typeptr, &self.datatype_handle.to_le_bytes())?;
        let function = table_function(caller, index)?;
        let args = (inptr as i32, inoutptr as i32, lenptr as i32, typeptr as i32);
        function.call_async(&mut *caller, args).await?;
        inout.copy_from_slice(&read(caller, inoutptr, n)?);
        free.call_async(&mut *caller, base as i32).await?;
        Ok(())
    }
}

fn export_func<P: wasmtime::WasmParams, R: wasmtime::WasmResults, T: MpiView>(
    caller: &mut Caller<'_, T>,
    name: &str,
) -> Result<wasmtime::TypedFunc<P, R>> {
    caller
        .get_export(name)
        .and_then(|e| e.into_func())
        .ok_or_else(|| format_err!("the module exports no `{name}` (include mpi.h)"))?
        .typed(&*caller)
}

type UserFunction = wasmtime::TypedFunc<(i32, i32, i32, i32), ()>;

fn table_function<T: MpiView>(caller: &mut Caller<'_, T>, index: u32) -> Result<UserFunction> {
    let table = caller
        .get_export("__indirect_function_table")
        .and_then(|e| e.into_table())
        .ok_or_else(|| {
            format_err!("the module exports no function table (build it with `faasm cc`)")
        })?;
    let function = table
        .get(&mut *caller, u64::from(index))
        .and_then(|entry| entry.as_func().flatten().copied())
        .ok_or_else(|| format_err!("user operation {index} is not a function"))?;
    function
        .typed(&*caller)
        .map_err(|_| format_err!("user operation {index} is not an MPI_User_function"))
}

/// `MPI_Op_create`: `function` is a function-table index.
pub(super) async fn op_create<T: MpiView>(
    caller: &mut Caller<'_, T>,
    function: u32,
    commute: i32,
    op: u32,
) -> Result<i32> {
    table_function(caller, function)?;
    let mpi = mpi(caller);
    let handle = mpi.next_op;
    mpi.next_op += 1;
    mpi.ops.insert(handle, (function, commute != 0));
    super::write_i32(caller, op, handle)?;
    Ok(0)
}

pub(super) async fn op_free<T: MpiView>(caller: &mut Caller<'_, T>, op: u32) -> Result<i32> {
    let handle = super::read_i32(caller, op)?;
    if mpi(caller).ops.remove(&handle).is_none() {
        bail!("unknown user operation {handle}");
    }
    super::write_i32(caller, op, 0)?;
    Ok(0)
}

/// Rank `rank` relative to `root`, and back.
fn relative(rank: i32, root: i32, size: i32) -> i32 {
    (rank - root).rem_euclid(size)
}

fn absolute(relative: i32, root: i32, size: i32) -> i32 {
    (relative + root) % size
}

fn check_root(comm: CommInfo, root: i32) -> Result<()> {
    if !(0..comm.size).contains(&root) {
        bail!(
            "root {root} is not in a communicator of {} ranks",
            comm.size
        );
    }
    Ok(())
}

/// The hosts of `comm`'s ranks when they span more than one (on one host: a length check).
fn hosts_of<T: MpiView>(caller: &mut Caller<'_, T>, comm: CommInfo) -> Result<Option<Hosts>> {
    Ok(Hosts::of(&**mpi(caller).world()?, comm))
}

/// `root`'s `data` on every rank: on one host a binomial tree; across hosts a tree among
/// the hosts' leaders (the root leads its host), then one within each host.
async fn bcast_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    root: i32,
    mut data: Bytes,
) -> Result<Bytes> {
    let Some(hosts) = hosts_of(caller, comm)? else {
        return tree_bcast(caller, Team::whole(comm), root, data).await;
    };
    let leaders = hosts.leaders(root);
    if let Some(team) = Team::listed(comm, &leaders) {
        let root_host = hosts.host_of(root) as i32;
        data = tree_bcast(caller, team, root_host, data).await?;
    }
    let (local, leader) = hosts.local(comm, &leaders);
    tree_bcast(caller, local, leader, data).await
}

/// A binomial-tree broadcast from member `root` of `team`.
async fn tree_bcast<T: MpiView>(
    caller: &mut Caller<'_, T>,
    team: Team<'_>,
    root: i32,
    mut data: Bytes,
) -> Result<Bytes> {
    let (size, me) = (team.size, relative(team.me, root, team.size));
    let mut mask = 1;
    while mask < size {
        if me & mask != 0 {
            let parent = team.rank(absolute(me - mask, root, size));
            data = recv_from(caller, team.comm, parent, BCAST).await?;
            break;
        }
        mask <<= 1;
    }
    mask >>= 1;
    while mask > 0 {
        if me + mask < size {
            let child = team.rank(absolute(me + mask, root, size));
            send_to(caller, team.comm, child, BCAST, data.clone()).await?;
        }
        mask >>= 1;
    }
    Ok(data)
}

/// The reduction of every rank's `mine`, at `root` (`None` elsewhere). Across hosts, each
/// host's ranks reduce at its leader (the root on the root's host), then the leaders at the
/// root. Hosts hold consecutive ranks, so that keeps rank order for operations that do not
/// commute (every MPI operation is associative).
async fn reduce_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    root: i32,
    reduction: Reduction,
    mine: Vec<u8>,
) -> Result<Option<Vec<u8>>> {
    let Some(hosts) = hosts_of(caller, comm)? else {
        return team_reduce(caller, Team::whole(comm), root, reduction, mine).await;
    };
    let leaders = hosts.leaders(root);
    let (local, leader) = hosts.local(comm, &leaders);
    let Some(partial) = team_reduce(caller, local, leader, reduction, mine).await? else {
        return Ok(None);
    };
    let team = Team::listed(comm, &leaders).expect("the leader of its host");
    let root_host = hosts.host_of(root) as i32;
    team_reduce(caller, team, root_host, reduction, partial).await
}

/// The reduction of the members' `mine` at member `root`: a binomial tree, or for an
/// operation that does not commute, in member order at the root:
/// x0 ∘ (x1 ∘ (... ∘ x(n-1))).
async fn team_reduce<T: MpiView>(
    caller: &mut Caller<'_, T>,
    team: Team<'_>,
    root: i32,
    reduction: Reduction,
    mut mine: Vec<u8>,
) -> Result<Option<Vec<u8>>> {
    let size = team.size;
    if !reduction.commutes() {
        let all = gather_bytes(caller, team, root, Bytes::from(mine)).await?;
        let Some(all) = all else { return Ok(None) };
        let mut acc = all[size as usize - 1].to_vec();
        for block in all[..size as usize - 1].iter().rev() {
            check_len(block.len(), acc.len())?;
            reduction.apply(caller, block, &mut acc).await?;
        }
        return Ok(Some(acc));
    }
    let me = relative(team.me, root, size);
    let mut mask = 1;
    while mask < size {
        if me & mask != 0 {
            let parent = team.rank(absolute(me - mask, root, size));
            send_to(caller, team.comm, parent, REDUCE, Bytes::from(mine)).await?;
            return Ok(None);
        }
        if me + mask < size {
            let child = team.rank(absolute(me + mask, root, size));
            let theirs = recv_from(caller, team.comm, child, REDUCE).await?;
            check_len(theirs.len(), mine.len())?;
            reduction.apply(caller, &theirs, &mut mine).await?;
        }
        mask <<= 1;
    }
    Ok(Some(mine))
}

/// The reduction of every rank's `mine`, on every rank. Across hosts (for an operation that
/// commutes), each host reduces at its lowest rank, those leaders allreduce among
/// themselves, and each broadcasts the result to its host.
async fn allreduce_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    reduction: Reduction,
    mine: Vec<u8>,
) -> Result<Vec<u8>> {
    if !reduction.commutes() {
        let reduced = reduce_bytes(caller, comm, 0, reduction, mine).await?;
        let data = Bytes::from(reduced.unwrap_or_default());
        return Ok(bcast_bytes(caller, comm, 0, data).await?.to_vec());
    }
    let Some(hosts) = hosts_of(caller, comm)? else {
        return team_allreduce(caller, Team::whole(comm), reduction, mine).await;
    };
    let len = mine.len();
    let leaders = hosts.leaders(0);
    let (local, leader) = hosts.local(comm, &leaders);
    let reduced = match team_reduce(caller, local, leader, reduction, mine).await? {
        Some(partial) => {
            let team = Team::listed(comm, &leaders).expect("the leader of its host");
            team_allreduce(caller, team, reduction, partial).await?
        }
        None => Vec::new(),
    };
    let result = tree_bcast(caller, local, leader, Bytes::from(reduced)).await?;
    check_len(result.len(), len)?;
    Ok(result.to_vec())
}

/// Allreduce among the members, for an operation that commutes.
async fn team_allreduce<T: MpiView>(
    caller: &mut Caller<'_, T>,
    team: Team<'_>,
    reduction: Reduction,
    mut mine: Vec<u8>,
) -> Result<Vec<u8>> {
    let size = team.size;
    let items = mine.len() / reduction.datatype.size().max(1);
    if size > 2 && mine.len() >= RING_BYTES && items >= size as usize {
        return ring_allreduce(caller, team, reduction, mine).await;
    }
    if size.count_ones() != 1 {
        let reduced = team_reduce(caller, team, 0, reduction, mine).await?;
        let data = Bytes::from(reduced.unwrap_or_default());
        return Ok(tree_bcast(caller, team, 0, data).await?.to_vec());
    }
    // Recursive doubling; the lower member's data always goes first, so every member
    // computes the same bits.
    let mut mask = 1;
    while mask < size {
        let partner = team.me ^ mask;
        let partner_rank = team.rank(partner);
        let outgoing = Bytes::copy_from_slice(&mine);
        send_to(caller, team.comm, partner_rank, ALLREDUCE, outgoing).await?;
        let theirs = recv_from(caller, team.comm, partner_rank, ALLREDUCE).await?;
        check_len(theirs.len(), mine.len())?;
        if partner < team.me {
            reduction.apply(caller, &theirs, &mut mine).await?;
        } else {
            let mut theirs = theirs.to_vec();
            reduction.apply(caller, &mine, &mut theirs).await?;
            mine = theirs;
        }
        mask <<= 1;
    }
    Ok(mine)
}

/// A ring allreduce for large buffers: a reduce-scatter around the ring (each member ends
/// with one block fully reduced), then an allgather of the blocks. Each member sends and
/// receives about twice the buffer, whatever the size, and every block is reduced once, so
/// all members get the same bits.
async fn ring_allreduce<T: MpiView>(
    caller: &mut Caller<'_, T>,
    team: Team<'_>,
    reduction: Reduction,
    mut mine: Vec<u8>,
) -> Result<Vec<u8>> {
    let (size, me) = (team.size as usize, team.me as usize);
    let item = reduction.datatype.size();
    let items = mine.len() / item;
    // Block `b` holds items [b * items / size, (b + 1) * items / size).
    let block = |b: usize| b * items / size * item..(b + 1) * items / size * item;
    let (right, left) = (
        team.rank(((me + 1) % size) as i32),
        team.rank(((me + size - 1) % size) as i32),
    );
    for step in 0..size - 1 {
        let outgoing = Bytes::copy_from_slice(&mine[block((me + size - step) % size)]);
        send_to(caller, team.comm, right, ALLREDUCE, outgoing).await?;
        let theirs = recv_from(caller, team.comm, left, ALLREDUCE).await?;
        let target = block((me + 2 * size - step - 1) % size);
        check_len(theirs.len(), target.len())?;
        reduction.apply(caller, &theirs, &mut mine[target]).await?;
    }
    // Member m now holds block m + 1 reduced; pass the reduced blocks around.
    for step in 0..size - 1 {
        let outgoing = Bytes::copy_from_slice(&mine[block((me + 1 + size - step) % size)]);
        send_to(caller, team.comm, right, ALLREDUCE, outgoing).await?;
        let theirs = recv_from(caller, team.comm, left, ALLREDUCE).await?;
        let target = block((me + size - step) % size);
        check_len(theirs.len(), target.len())?;
        mine[target].copy_from_slice(&theirs);
    }
    Ok(mine)
}

/// From this size on, an allreduce of a commutative operation over more than two ranks goes
/// around a ring.
const RING_BYTES: usize = 64 * 1024;

/// Every member's block at member `root`, in member order (`None` elsewhere).
async fn gather_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    team: Team<'_>,
    root: i32,
    mine: Bytes,
) -> Result<Option<Vec<Bytes>>> {
    if team.me != root {
        send_to(caller, team.comm, team.rank(root), GATHER, mine).await?;
        return Ok(None);
    }
    let mut blocks = Vec::with_capacity(team.size as usize);
    for member in 0..team.size {
        if member == root {
            blocks.push(mine.clone());
        } else {
            let rank = team.rank(member);
            blocks.push(recv_from(caller, team.comm, rank, GATHER).await?);
        }
    }
    Ok(Some(blocks))
}

/// Every rank's block at `root`, in rank order (`None` elsewhere). Across hosts, each host's
/// blocks gather at its leader (the root on the root's host), which sends them on to the root
/// in one message.
async fn gather_across<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    root: i32,
    mine: Bytes,
) -> Result<Option<Vec<Bytes>>> {
    let Some(hosts) = hosts_of(caller, comm)? else {
        return gather_bytes(caller, Team::whole(comm), root, mine).await;
    };
    let leaders = hosts.leaders(root);
    let (local, leader) = hosts.local(comm, &leaders);
    let Some(blocks) = gather_bytes(caller, local, leader, mine).await? else {
        return Ok(None);
    };
    let team = Team::listed(comm, &leaders).expect("the leader of its host");
    let root_host = hosts.host_of(root) as i32;
    let Some(packed) = gather_bytes(caller, team, root_host, pack(&blocks)).await? else {
        return Ok(None);
    };
    let mut all = Vec::with_capacity(comm.size as usize);
    for host in packed {
        all.extend(unpack(host)?);
    }
    if all.len() != comm.size as usize {
        bail!(
            "a gather across hosts brought {} blocks for {} ranks",
            all.len(),
            comm.size
        );
    }
    Ok(Some(all))
}

/// Blocks as one message: each one's length (u32, little-endian), then the bytes.
fn pack(blocks: &[Bytes]) -> Bytes {
    let total = blocks.iter().map(|b| 4 + b.len()).sum();
    let mut packed = Vec::with_capacity(total);
    for block in blocks {
        // A block lies in a wasm32 memory, so its length fits a u32.
        packed.extend_from_slice(&(block.len() as u32).to_le_bytes());
        packed.extend_from_slice(block);
    }
    Bytes::from(packed)
}

/// The blocks of a [`pack`]ed message, without copying them.
fn unpack(mut packed: Bytes) -> Result<Vec<Bytes>> {
    let mut blocks = Vec::new();
    while !packed.is_empty() {
        let malformed = || format_err!("a malformed gather message between hosts");
        let len = packed.get(..4).ok_or_else(malformed)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let end = len.checked_add(4).filter(|&end| end <= packed.len());
        let block = packed.split_to(end.ok_or_else(malformed)?);
        blocks.push(block.slice(4..));
    }
    Ok(blocks)
}

/// Block `i` of the root's `blocks` to rank `i`; returns this rank's. Across hosts, the root
/// sends each host's leader that host's blocks packed in one message, and each leader
/// hands them out on its host.
async fn scatter_across<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    root: i32,
    blocks: Option<Vec<Bytes>>,
) -> Result<Bytes> {
    let Some(hosts) = hosts_of(caller, comm)? else {
        return scatter_bytes(caller, Team::whole(comm), root, blocks).await;
    };
    let leaders = hosts.leaders(root);
    let (local, leader) = hosts.local(comm, &leaders);
    let mut local_blocks = None;
    if let Some(team) = Team::listed(comm, &leaders) {
        let by_host = blocks.map(|blocks| {
            let ranges = hosts.ranges().iter();
            ranges
                .map(|r| pack(&blocks[r.start as usize..r.end as usize]))
                .collect()
        });
        let root_host = hosts.host_of(root) as i32;
        let packed = scatter_bytes(caller, team, root_host, by_host).await?;
        let unpacked = unpack(packed)?;
        if unpacked.len() != local.size as usize {
            bail!(
                "a scatter across hosts brought {} blocks for {} ranks",
                unpacked.len(),
                local.size
            );
        }
        local_blocks = Some(unpacked);
    }
    scatter_bytes(caller, local, leader, local_blocks).await
}

/// Block `i` of member `root`'s `blocks` to member `i`; returns this member's.
async fn scatter_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    team: Team<'_>,
    root: i32,
    blocks: Option<Vec<Bytes>>,
) -> Result<Bytes> {
    let Some(blocks) = blocks else {
        return recv_from(caller, team.comm, team.rank(root), SCATTER).await;
    };
    let mut own = Bytes::new();
    for (member, block) in (0..).zip(blocks) {
        if member == root {
            own = block;
        } else {
            send_to(caller, team.comm, team.rank(member), SCATTER, block).await?;
        }
    }
    Ok(own)
}

fn check_len(got: usize, expected: usize) -> Result<()> {
    if got != expected {
        bail!("ranks passed different amounts of data ({got} and {expected} bytes)");
    }
    Ok(())
}

/// A received block must fit the space the receiver gave it.
fn check_fits(got: usize, capacity: usize) -> Result<()> {
    if got > capacity {
        bail!("message of {got} bytes truncated: the receive buffer holds {capacity}");
    }
    Ok(())
}

/// Where each rank's block sits in a buffer: byte offset and length.
type Layout = Vec<(u32, usize)>;

fn uniform(count: i32, datatype: &Datatype, size: i32) -> Result<Layout> {
    let len = byte_len(count, datatype)?;
    (0..size as usize)
        .map(|i| {
            let offset = i.checked_mul(len).filter(|&o| o <= u32::MAX as usize);
            Ok((
                offset.ok_or_else(|| format_err!("buffer too large"))? as u32,
                len,
            ))
        })
        .collect()
}

fn varying<T: MpiView>(
    caller: &mut Caller<'_, T>,
    counts: u32,
    displs: Option<u32>,
    datatype: &Datatype,
    size: i32,
) -> Result<Layout> {
    let counts = read_i32s(caller, counts, size as usize)?;
    let displs = match displs {
        Some(displs) => read_i32s(caller, displs, size as usize)?,
        // Packed one after another (MPI_Reduce_scatter).
        None => counts
            .iter()
            .scan(0i32, |at, &c| {
                let here = *at;
                *at = at.saturating_add(c);
                Some(here)
            })
            .collect(),
    };
    counts
        .iter()
        .zip(&displs)
        .map(|(&count, &displ)| {
            let len = byte_len(count, datatype)?;
            let offset = byte_len(displ, datatype)?;
            Ok((offset as u32, len))
        })
        .collect()
}

fn at(buf: u32, offset: u32) -> Result<u32> {
    buf.checked_add(offset)
        .ok_or_else(|| format_err!("buffer offset overflows memory"))
}

/// `MPI_Barrier`: dissemination, log2(size) rounds. Across hosts, each host's ranks check in
/// with its lowest rank, those leaders run the dissemination among themselves, and each
/// releases its host.
pub(super) async fn barrier<T: MpiView>(caller: &mut Caller<'_, T>, comm: i32) -> Result<i32> {
    let comm = mpi(caller).comm_info(comm)?;
    let Some(hosts) = hosts_of(caller, comm)? else {
        dissemination(caller, Team::whole(comm)).await?;
        return Ok(0);
    };
    let leaders = hosts.leaders(0);
    let (local, leader) = hosts.local(comm, &leaders);
    gather_bytes(caller, local, leader, Bytes::new()).await?;
    if let Some(team) = Team::listed(comm, &leaders) {
        dissemination(caller, team).await?;
    }
    tree_bcast(caller, local, leader, Bytes::new()).await?;
    Ok(0)
}

/// A dissemination barrier among the members.
async fn dissemination<T: MpiView>(caller: &mut Caller<'_, T>, team: Team<'_>) -> Result<()> {
    let mut step = 1;
    while step < team.size {
        let to = team.rank((team.me + step) % team.size);
        let from = team.rank((team.me - step).rem_euclid(team.size));
        send_to(caller, team.comm, to, BARRIER, Bytes::new()).await?;
        recv_from(caller, team.comm, from, BARRIER).await?;
        step <<= 1;
    }
    Ok(())
}

pub(super) async fn bcast<T: MpiView>(
    caller: &mut Caller<'_, T>,
    buffer: u32,
    count: i32,
    datatype: i32,
    root: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let len = byte_len(count, &mpi.datatype(datatype)?)?;
    check_root(comm, root)?;
    let mine = if comm.rank == root {
        Bytes::from(read(caller, buffer, len)?)
    } else {
        check(caller, buffer, len)?;
        Bytes::new()
    };
    let data = bcast_bytes(caller, comm, root, mine).await?;
    if comm.rank != root {
        check_fits(data.len(), len)?;
        write(caller, buffer, &data)?;
    }
    Ok(0)
}

/// This rank's contribution: `sendbuf`, or `recvbuf` for `MPI_IN_PLACE`.
fn contribution<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    recvbuf: u32,
    len: usize,
) -> Result<Vec<u8>> {
    read(
        caller,
        if sendbuf == IN_PLACE {
            recvbuf
        } else {
            sendbuf
        },
        len,
    )
}

/// Which ranks a reduction's result reaches.
#[derive(Clone, Copy)]
enum Receivers {
    Root(i32),
    All,
}

/// What every reduction call checks first and starts from: the communicator, the operation
/// on `datatype`, this rank's `count` items (from `recvbuf` for `MPI_IN_PLACE`), the root if
/// there is one, and `recvbuf` on the ranks the result reaches.
#[allow(clippy::too_many_arguments)]
fn reduction_input<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    recvbuf: u32,
    count: i32,
    datatype: i32,
    op: i32,
    comm: i32,
    receivers: Receivers,
) -> Result<(CommInfo, Reduction, Vec<u8>)> {
    let comm = mpi(caller).comm_info(comm)?;
    let reduction = Reduction::new(caller, op, datatype)?;
    let len = byte_len(count, &reduction.datatype)?;
    let mine = contribution(caller, sendbuf, recvbuf, len)?;
    let receives = match receivers {
        Receivers::Root(root) => {
            check_root(comm, root)?;
            comm.rank == root
        }
        Receivers::All => true,
    };
    if receives {
        check(caller, recvbuf, len)?;
    }
    Ok((comm, reduction, mine))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn reduce<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    recvbuf: u32,
    count: i32,
    datatype: i32,
    op: i32,
    root: i32,
    comm: i32,
) -> Result<i32> {
    // MPI_IN_PLACE belongs at the root; elsewhere it is taken, as Faasm does, to mean the
    // data is in `recvbuf` (Faasm's own examples rely on that).
    let receivers = Receivers::Root(root);
    let (comm, reduction, mine) = reduction_input(
        caller, sendbuf, recvbuf, count, datatype, op, comm, receivers,
    )?;
    if let Some(result) = reduce_bytes(caller, comm, root, reduction, mine).await? {
        write(caller, recvbuf, &result)?;
    }
    Ok(0)
}

/// The reductions whose result reaches every rank.
#[derive(Clone, Copy)]
pub(super) enum Across {
    /// `MPI_Allreduce`: every rank gets the reduction of all.
    All,
    /// `MPI_Scan`: rank `i` gets the reduction of ranks `0..=i`.
    Prefix,
}

/// `MPI_Allreduce` and `MPI_Scan`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn reduce_across<T: MpiView>(
    caller: &mut Caller<'_, T>,
    across: Across,
    sendbuf: u32,
    recvbuf: u32,
    count: i32,
    datatype: i32,
    op: i32,
    comm: i32,
) -> Result<i32> {
    let (comm, reduction, mine) = reduction_input(
        caller,
        sendbuf,
        recvbuf,
        count,
        datatype,
        op,
        comm,
        Receivers::All,
    )?;
    let result = match across {
        Across::All => allreduce_bytes(caller, comm, reduction, mine).await?,
        Across::Prefix => scan_bytes(caller, comm, reduction, mine).await?,
    };
    write(caller, recvbuf, &result)?;
    Ok(0)
}

/// Inclusive prefix reductions, passed along the ranks.
async fn scan_bytes<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    reduction: Reduction,
    mut mine: Vec<u8>,
) -> Result<Vec<u8>> {
    if comm.rank > 0 {
        let prefix = recv_from(caller, comm, comm.rank - 1, SCAN).await?;
        check_len(prefix.len(), mine.len())?;
        reduction.apply(caller, &prefix, &mut mine).await?;
    }
    if comm.rank + 1 < comm.size {
        let prefix = Bytes::copy_from_slice(&mine);
        send_to(caller, comm, comm.rank + 1, SCAN, prefix).await?;
    }
    Ok(mine)
}

/// `MPI_Reduce_scatter`: reduce at rank 0, then block `i` (of `recvcounts[i]` items) to rank `i`.
pub(super) async fn reduce_scatter<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    recvbuf: u32,
    recvcounts: u32,
    datatype: i32,
    op: i32,
    comm: i32,
) -> Result<i32> {
    let comm = mpi(caller).comm_info(comm)?;
    let reduction = Reduction::new(caller, op, datatype)?;
    let layout = varying(caller, recvcounts, None, &reduction.datatype, comm.size)?;
    let total = layout.iter().map(|(_, len)| len).sum();
    let mine = contribution(caller, sendbuf, recvbuf, total)?;
    let own_len = layout[comm.rank as usize].1;
    check(caller, recvbuf, own_len)?;
    let reduced = reduce_bytes(caller, comm, 0, reduction, mine).await?;
    let blocks = reduced.map(|all| {
        let all = Bytes::from(all);
        layout
            .iter()
            .map(|&(offset, len)| all.slice(offset as usize..offset as usize + len))
            .collect()
    });
    let own = scatter_across(caller, comm, 0, blocks).await?;
    check_fits(own.len(), own_len)?;
    write(caller, recvbuf, &own)?;
    Ok(0)
}

/// Gather and Gatherv: `layout` is where blocks go in the root's `recvbuf`.
async fn gather_into<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    root: i32,
    send: (u32, usize),
    recvbuf: u32,
    layout: Option<Layout>,
) -> Result<()> {
    check_root(comm, root)?;
    let in_place = send.0 == IN_PLACE && comm.rank == root;
    let mine = if in_place {
        Bytes::new()
    } else {
        Bytes::from(read(caller, send.0, send.1)?)
    };
    let Some(blocks) = gather_across(caller, comm, root, mine).await? else {
        return Ok(());
    };
    let layout = layout.expect("the root has a layout");
    let skip = in_place.then_some(root as usize);
    write_blocks(caller, recvbuf, &blocks, &layout, skip)
}

/// Writes each rank's block where `layout` puts it in `recvbuf` (all but rank `skip`'s).
fn write_blocks<T: MpiView>(
    caller: &mut Caller<'_, T>,
    recvbuf: u32,
    blocks: &[Bytes],
    layout: &Layout,
    skip: Option<usize>,
) -> Result<()> {
    for (rank, (block, &(offset, len))) in blocks.iter().zip(layout).enumerate() {
        if skip != Some(rank) {
            check_fits(block.len(), len)?;
            write(caller, at(recvbuf, offset)?, block)?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn gather<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    recvbuf: u32,
    recvcount: i32,
    recvtype: i32,
    root: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let send_len = byte_len(sendcount, &mpi.datatype(sendtype)?)?;
    let layout = if comm.rank == root {
        Some(uniform(recvcount, &mpi.datatype(recvtype)?, comm.size)?)
    } else {
        None
    };
    gather_into(caller, comm, root, (sendbuf, send_len), recvbuf, layout).await?;
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn gatherv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    recvbuf: u32,
    recvcounts: u32,
    displs: u32,
    recvtype: i32,
    root: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let send_len = byte_len(sendcount, &mpi.datatype(sendtype)?)?;
    let layout = if comm.rank == root {
        let recvtype = mpi.datatype(recvtype)?;
        Some(varying(
            caller,
            recvcounts,
            Some(displs),
            &recvtype,
            comm.size,
        )?)
    } else {
        None
    };
    gather_into(caller, comm, root, (sendbuf, send_len), recvbuf, layout).await?;
    Ok(0)
}

/// Scatter and Scatterv: `layout` is where the root's blocks are in `sendbuf`.
async fn scatter_from<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    root: i32,
    sendbuf: u32,
    layout: Option<Layout>,
    recv: (u32, usize),
) -> Result<()> {
    check_root(comm, root)?;
    let in_place = recv.0 == IN_PLACE && comm.rank == root;
    let blocks = match layout {
        Some(layout) => Some(
            layout
                .into_iter()
                .map(|(offset, len)| Ok(Bytes::from(read(caller, at(sendbuf, offset)?, len)?)))
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let own = scatter_across(caller, comm, root, blocks).await?;
    if !in_place {
        check_fits(own.len(), recv.1)?;
        check(caller, recv.0, recv.1)?;
        write(caller, recv.0, &own)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn scatter<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    recvbuf: u32,
    recvcount: i32,
    recvtype: i32,
    root: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let recv_len = byte_len(recvcount, &mpi.datatype(recvtype)?)?;
    let layout = if comm.rank == root {
        Some(uniform(sendcount, &mpi.datatype(sendtype)?, comm.size)?)
    } else {
        None
    };
    scatter_from(caller, comm, root, sendbuf, layout, (recvbuf, recv_len)).await?;
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn scatterv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcounts: u32,
    displs: u32,
    sendtype: i32,
    recvbuf: u32,
    recvcount: i32,
    recvtype: i32,
    root: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let recv_len = byte_len(recvcount, &mpi.datatype(recvtype)?)?;
    let layout = if comm.rank == root {
        let sendtype = mpi.datatype(sendtype)?;
        Some(varying(
            caller,
            sendcounts,
            Some(displs),
            &sendtype,
            comm.size,
        )?)
    } else {
        None
    };
    scatter_from(caller, comm, root, sendbuf, layout, (recvbuf, recv_len)).await?;
    Ok(0)
}

/// Allgather and Allgatherv: a ring; in `size - 1` steps each rank passes on the block it
/// got last to its right neighbour.
async fn allgather_into<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    send: (u32, usize),
    recvbuf: u32,
    layout: Layout,
) -> Result<()> {
    let (size, rank) = (comm.size, comm.rank);
    let (own_offset, own_len) = layout[rank as usize];
    let mine = if send.0 == IN_PLACE {
        read(caller, at(recvbuf, own_offset)?, own_len)?
    } else {
        read(caller, send.0, send.1)?
    };
    let mut blocks = vec![Bytes::new(); size as usize];
    blocks[rank as usize] = Bytes::from(mine);
    let (right, left) = ((rank + 1) % size, (rank - 1).rem_euclid(size));
    for step in 0..size - 1 {
        let outgoing = (rank - step).rem_euclid(size) as usize;
        let incoming = (rank - step - 1).rem_euclid(size) as usize;
        send_to(caller, comm, right, ALLGATHER, blocks[outgoing].clone()).await?;
        blocks[incoming] = recv_from(caller, comm, left, ALLGATHER).await?;
    }
    write_blocks(caller, recvbuf, &blocks, &layout, None)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn allgather<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    recvbuf: u32,
    recvcount: i32,
    recvtype: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let send_len = byte_len(sendcount, &mpi.datatype(sendtype)?)?;
    let layout = uniform(recvcount, &mpi.datatype(recvtype)?, comm.size)?;
    allgather_into(caller, comm, (sendbuf, send_len), recvbuf, layout).await?;
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn allgatherv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    recvbuf: u32,
    recvcounts: u32,
    displs: u32,
    recvtype: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let send_len = byte_len(sendcount, &mpi.datatype(sendtype)?)?;
    let recvtype = mpi.datatype(recvtype)?;
    let layout = varying(caller, recvcounts, Some(displs), &recvtype, comm.size)?;
    allgather_into(caller, comm, (sendbuf, send_len), recvbuf, layout).await?;
    Ok(0)
}

/// Alltoall and Alltoallv: pairwise, every rank sends block `i` to rank `i` (all sends go
/// first: they never wait), then receives from each. A block to another rank of at least the
/// eager limit is lent (the guest
/// stays suspended until every one has been copied), so it crosses to the receiver's memory
/// with one copy; a rank's own block is copied within its memory.
async fn alltoall_into<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: CommInfo,
    sendbuf: u32,
    send_layout: Layout,
    recvbuf: u32,
    recv_layout: Layout,
) -> Result<()> {
    let (size, rank) = (comm.size, comm.rank);
    let in_place = sendbuf == IN_PLACE;
    let (source, layout) = if in_place {
        (recvbuf, &recv_layout)
    } else {
        (sendbuf, &send_layout)
    };
    if !in_place {
        let (offset, len) = layout[rank as usize];
        let (own_offset, own_len) = recv_layout[rank as usize];
        check_fits(len, own_len)?;
        copy_within(caller, at(source, offset)?, at(recvbuf, own_offset)?, len)?;
    }
    let eager_limit = world(caller)?.eager_limit();
    let mut lent = Vec::new();
    for step in 1..size {
        let dest = (rank + step) % size;
        let (offset, len) = layout[dest as usize];
        let block = at(source, offset)?;
        if !in_place && len >= eager_limit {
            let context = comm.context + 1;
            // SAFETY: the guest stays suspended until every lender is returned or dropped,
            // and this call writes only the receive buffer meanwhile, which must not overlap
            // the send buffer.
            lent.push(
                unsafe { send_lent(caller, comm, context, dest, ALLTOALL, block, len) }.await?,
            );
        } else {
            let data = Bytes::from(read(caller, block, len)?);
            send_to(caller, comm, dest, ALLTOALL, data).await?;
        }
    }
    for step in 1..size {
        let from = (rank - step).rem_euclid(size);
        let message = receive(caller, collective(comm, from, ALLTOALL)).await?;
        let (offset, len) = recv_layout[from as usize];
        deliver_into(caller, &message, at(recvbuf, offset)?, len)?;
    }
    for lender in lent {
        returned(caller, lender).await;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn alltoall<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcount: i32,
    sendtype: i32,
    recvbuf: u32,
    recvcount: i32,
    recvtype: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let send_layout = if sendbuf == IN_PLACE {
        Vec::new()
    } else {
        uniform(sendcount, &mpi.datatype(sendtype)?, comm.size)?
    };
    let recv_layout = uniform(recvcount, &mpi.datatype(recvtype)?, comm.size)?;
    alltoall_into(caller, comm, sendbuf, send_layout, recvbuf, recv_layout).await?;
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn alltoallv<T: MpiView>(
    caller: &mut Caller<'_, T>,
    sendbuf: u32,
    sendcounts: u32,
    sdispls: u32,
    sendtype: i32,
    recvbuf: u32,
    recvcounts: u32,
    rdispls: u32,
    recvtype: i32,
    comm: i32,
) -> Result<i32> {
    let mpi = mpi(caller);
    let comm = mpi.comm_info(comm)?;
    let (sendtype, recvtype) = (mpi.datatype(sendtype), mpi.datatype(recvtype)?);
    let send_layout = if sendbuf == IN_PLACE {
        Vec::new()
    } else {
        varying(caller, sendcounts, Some(sdispls), &sendtype?, comm.size)?
    };
    let recv_layout = varying(caller, recvcounts, Some(rdispls), &recvtype, comm.size)?;
    alltoall_into(caller, comm, sendbuf, send_layout, recvbuf, recv_layout).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_blocks_come_back_as_they_went() {
        let blocks = [
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"d"),
        ];
        let packed = pack(&blocks);
        assert_eq!(packed.len(), 3 * 4 + 4);
        assert_eq!(unpack(packed.clone()).unwrap(), blocks);
        // Cut short, or a length past the end.
        assert!(unpack(packed.slice(..packed.len() - 1)).is_err());
        assert!(unpack(packed.slice(..2)).is_err());
    }
}
