//! The host door: the interpreter's one extra import, `host.call(ptr, len, out_ptr, out_len)`,
//! through which `pyfaasm` (`sdk/python/pyfaasm/_door.py`) reaches the same host
//! implementations as the C imports: input and output, state, chaining, and the runner's own
//! questions (which source to load, which entry to run, how the call ended).
//!
//! # Frames
//!
//! A request is an operation code (one byte) and its arguments in order: integers as 8-byte
//! little-endian `i64`, byte strings as a 4-byte little-endian length and the bytes. A reply
//! is a status byte, then either the operation's result (`0`: bytes, an `i64`, or a list of
//! length-prefixed byte strings) or an error message (`1`: UTF-8), which `pyfaasm` raises as
//! `pyfaasm.core.FaasmError`. The reply is written into memory the guest allocates with its
//! `host_alloc` export; the door answers 0, or -2 if the guest could not allocate it.
//! Misuse (a bad key, an unknown call id, a lock not held) is an error reply, never a trap:
//! Python code can catch it, and an uncaught one fails the call with its traceback.

use std::sync::Arc;

use bytes::Bytes;
use faasm_api::StateKey;
use faasm_state::check_range;
use wasmtime::{Caller, Linker};

use crate::chain::{CallHandle, ChainTarget, Entry};
use crate::host::io::IoView;
use crate::host::state::StateView;
use crate::host::{self, memory};

/// The operation codes; `pyfaasm/_door.py` has the same table.
mod op {
    pub const RUNNER_SOURCE: u8 = 1;
    pub const RUNNER_CALL: u8 = 2;
    pub const RUNNER_RESULT: u8 = 3;
    pub const INPUT: u8 = 10;
    pub const OUTPUT: u8 = 11;
    pub const STATE_SIZE: u8 = 20;
    pub const READ_STATE: u8 = 21;
    pub const READ_STATE_OFFSET: u8 = 22;
    pub const WRITE_STATE: u8 = 23;
    pub const WRITE_STATE_OFFSET: u8 = 24;
    pub const PUSH_STATE: u8 = 25;
    pub const PUSH_STATE_PARTIAL: u8 = 26;
    pub const PULL_STATE: u8 = 27;
    pub const APPEND_STATE: u8 = 28;
    pub const READ_APPENDED_STATE: u8 = 29;
    pub const CLEAR_APPENDED_STATE: u8 = 30;
    pub const LOCK_STATE_READ: u8 = 31;
    pub const UNLOCK_STATE_READ: u8 = 32;
    pub const LOCK_STATE_WRITE: u8 = 33;
    pub const UNLOCK_STATE_WRITE: u8 = 34;
    pub const CHAIN: u8 = 40;
    pub const AWAIT_CALL: u8 = 41;
    pub const CALL_OUTPUT: u8 = 42;
}

/// What a Python instance is doing, which decides what the door answers.
pub(crate) enum Phase {
    /// The interpreter is being initialised (the base snapshot).
    Base,
    /// A function's module is being imported (its snapshot, at upload).
    Load { filename: String, source: Bytes },
    /// A call: run `entry` (empty: `faasm_main`) with `sys.argv` ending in `argv`.
    Call { entry: String, argv: Vec<String> },
}

/// A Python instance's side of the door.
pub(crate) struct PythonCall {
    pub(super) phase: Phase,
    /// How the runner said the stage or call ended.
    pub(super) result: Option<RunnerResult>,
}

impl PythonCall {
    pub(crate) fn call(entry: &Entry, cmdline: Vec<String>) -> Self {
        let entry = match entry {
            Entry::Python(name) => name.to_string(),
            Entry::Main | Entry::Table(_) => String::new(),
        };
        Self::new(Phase::Call {
            entry,
            argv: cmdline,
        })
    }

    pub(super) fn new(phase: Phase) -> Self {
        Self {
            phase,
            result: None,
        }
    }
}

pub(crate) struct RunnerResult {
    pub return_value: i32,
    /// A one-line description of the exception that ended it, if one did.
    pub error: Option<String>,
}

/// Where a store's data keeps its [`PythonCall`] (`None` outside the interpreter): the
/// projection the door links through. The door serves input and output, chaining and state
/// with those parts' own functions.
pub(crate) trait PythonView: IoView + StateView {
    fn python(&mut self) -> Option<&mut PythonCall>;
}

const OK: u8 = 0;
const ERROR: u8 = 1;
/// `host.call`'s answer when the reply could not be delivered (the guest raises `OSError`).
const FAULT: i32 = -2;

pub(crate) fn add_to_linker<T: PythonView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "host",
        "call",
        |mut caller: Caller<'_, T>, (ptr, len, out_ptr, out_len): (u32, u32, u32, u32)| {
            Box::new(async move {
                let request = {
                    let memory = memory::exported(&mut caller)?;
                    let data = memory.data(&caller);
                    data[memory::range(data, ptr, len)?].to_vec()
                };
                let reply = match serve(&mut caller, &request).await {
                    Ok(mut reply) => {
                        reply.insert(0, OK);
                        reply
                    }
                    Err(err) => [&[ERROR], format!("{err:#}").as_bytes()].concat(),
                };
                deliver(&mut caller, &reply, out_ptr, out_len).await
            })
        },
    )?;
    Ok(())
}

/// Copies `reply` into memory from the guest's `host_alloc` and stores its address and length.
async fn deliver<T: PythonView>(
    caller: &mut Caller<'_, T>,
    reply: &[u8],
    out_ptr: u32,
    out_len: u32,
) -> wasmtime::Result<i32> {
    let alloc = caller
        .get_export("host_alloc")
        .and_then(|export| export.into_func())
        .ok_or_else(|| wasmtime::format_err!("the interpreter exports no `host_alloc`"))?
        .typed::<u32, u32>(&*caller)?;
    let len = u32::try_from(reply.len())?;
    let at = alloc.call_async(&mut *caller, len).await?;
    if at == 0 {
        return Ok(FAULT);
    }
    let memory = memory::exported(caller)?;
    let data = memory.data_mut(&mut *caller);
    for (ptr, bytes) in [
        (at, reply),
        (out_ptr, &at.to_le_bytes()),
        (out_len, &len.to_le_bytes()),
    ] {
        let range = memory::range(data, ptr, bytes.len() as u32)?;
        data[range].copy_from_slice(bytes);
    }
    Ok(0)
}

/// A request's arguments, read in order.
struct Args<'a>(&'a [u8]);

impl<'a> Args<'a> {
    fn take(&mut self, n: usize) -> wasmtime::Result<&'a [u8]> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| wasmtime::format_err!("malformed request: too short"))?;
        self.0 = tail;
        Ok(head)
    }

    fn int(&mut self) -> wasmtime::Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into()?))
    }

    /// A non-negative integer (a size, an offset).
    fn size(&mut self) -> wasmtime::Result<usize> {
        let n = self.int()?;
        usize::try_from(n).map_err(|_| wasmtime::format_err!("{n} is not a size"))
    }

    fn bytes(&mut self) -> wasmtime::Result<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into()?);
        self.take(len as usize)
    }

    fn text(&mut self) -> wasmtime::Result<&'a str> {
        Ok(std::str::from_utf8(self.bytes()?)?)
    }

    fn key(&mut self) -> wasmtime::Result<StateKey> {
        StateKey::new(self.bytes()?).map_err(|e| wasmtime::format_err!("{e}"))
    }
}

fn int_reply(n: i64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

/// Length-prefixed byte strings, as [`Args::bytes`] reads them.
fn list_reply(items: &[Bytes]) -> Vec<u8> {
    let mut reply = Vec::new();
    for item in items {
        reply.extend_from_slice(&(item.len() as u32).to_le_bytes());
        reply.extend_from_slice(item);
    }
    reply
}

async fn serve<T: PythonView>(c: &mut Caller<'_, T>, request: &[u8]) -> wasmtime::Result<Vec<u8>> {
    let (&code, args) = request
        .split_first()
        .ok_or_else(|| wasmtime::format_err!("malformed request: empty"))?;
    let mut args = Args(args);
    let reply = match code {
        op::RUNNER_SOURCE => {
            let Some(Phase::Load { filename, source }) = phase(c) else {
                wasmtime::bail!("there is no source to load now");
            };
            list_reply(&[Bytes::copy_from_slice(filename.as_bytes()), source.clone()])
        }
        op::RUNNER_CALL => {
            let Some(Phase::Call { entry, argv }) = phase(c) else {
                wasmtime::bail!("no call is running");
            };
            let mut items = vec![Bytes::copy_from_slice(entry.as_bytes())];
            items.extend(
                argv.iter()
                    .map(|arg| Bytes::copy_from_slice(arg.as_bytes())),
            );
            list_reply(&items)
        }
        op::RUNNER_RESULT => {
            let return_value = i32::try_from(args.int()?)?;
            let error = args.text()?;
            let python = c.data_mut().python().expect("a Python call");
            python.result = Some(RunnerResult {
                return_value,
                error: (!error.is_empty()).then(|| error.to_owned()),
            });
            Vec::new()
        }
        _ => {
            if !matches!(phase(c), Some(Phase::Call { .. })) {
                wasmtime::bail!(
                    "pyfaasm's host calls are available while a call runs, not while the \
                     module is imported at upload: call them from faasm_main"
                );
            }
            return serve_call(c, code, args).await;
        }
    };
    args.finish()?;
    Ok(reply)
}

impl Args<'_> {
    fn finish(&self) -> wasmtime::Result<()> {
        if !self.0.is_empty() {
            wasmtime::bail!("malformed request: {} bytes too many", self.0.len());
        }
        Ok(())
    }
}

fn phase<'a, T: PythonView>(c: &'a mut Caller<'_, T>) -> Option<&'a Phase> {
    c.data_mut().python().map(|python| &python.phase)
}

/// The operations of SPEC §10 (and the rest of the C ABI's state calls).
async fn serve_call<T: PythonView>(
    c: &mut Caller<'_, T>,
    code: u8,
    mut args: Args<'_>,
) -> wasmtime::Result<Vec<u8>> {
    let reply = match code {
        op::INPUT => c.data_mut().io().input().to_vec(),
        op::OUTPUT => {
            c.data_mut().io().set_output(args.bytes()?)?;
            Vec::new()
        }
        op::CHAIN => {
            let entry = args.text()?;
            let input = Bytes::copy_from_slice(args.bytes()?);
            let target = ChainTarget::SameModule(Entry::Python(Arc::from(entry)));
            int_reply(host::chain::start(c, target, input).await?.into())
        }
        op::AWAIT_CALL => {
            let handle = CallHandle::try_from(args.int()?)?;
            int_reply(host::chain::await_call(c, handle).await?.into())
        }
        op::CALL_OUTPUT => {
            let handle = CallHandle::try_from(args.int()?)?;
            host::chain::finished(c, handle)?.output.to_vec()
        }
        _ => return serve_state(c, code, args).await,
    };
    args.finish()?;
    Ok(reply)
}

/// State (SPEC §8) over this host's local tier, as the C imports do it.
async fn serve_state<T: PythonView>(
    c: &mut Caller<'_, T>,
    code: u8,
    mut args: Args<'_>,
) -> wasmtime::Result<Vec<u8>> {
    let key = args.key()?;
    let value = host::state::value(c, &key);
    let reply = match code {
        op::STATE_SIZE => {
            let mut v = value.access().await;
            v.load_whole(0).await?;
            int_reply(v.len() as i64)
        }
        op::READ_STATE => {
            let len = args.int()?;
            let mut v = value.access().await;
            v.load_whole(0).await?;
            // A negative length reads the whole value.
            let n = usize::try_from(len).map_or(v.len(), |len| len.min(v.len()));
            v.bytes()[..n].to_vec()
        }
        op::READ_STATE_OFFSET => {
            let (total, offset, len) = (args.size()?, args.size()?, args.size()?);
            let mut v = value.access().await;
            let total = v.size_for(total, offset, len).await?;
            let range = check_range(total, offset, len)?;
            v.load_range(total, range.clone()).await?;
            v.bytes()[range].to_vec()
        }
        op::WRITE_STATE => {
            value.access().await.replace(args.bytes()?)?;
            Vec::new()
        }
        op::WRITE_STATE_OFFSET => {
            let (total, offset, data) = (args.size()?, args.size()?, args.bytes()?);
            let mut v = value.access().await;
            let total = v.size_for(total, offset, data.len()).await?;
            v.write_at(total, offset, data)?;
            Vec::new()
        }
        op::PUSH_STATE => {
            value.access().await.push().await?;
            Vec::new()
        }
        op::PUSH_STATE_PARTIAL => {
            value.access().await.push_partial().await?;
            Vec::new()
        }
        op::PULL_STATE => {
            let len = args.size()?;
            value.access().await.pull(len).await?;
            Vec::new()
        }
        op::APPEND_STATE => {
            value.append(Bytes::copy_from_slice(args.bytes()?)).await?;
            Vec::new()
        }
        op::READ_APPENDED_STATE => {
            let n = args.size()?;
            let elements = value.read_appended(n).await?;
            if elements.len() < n {
                wasmtime::bail!(
                    "state key has {} appended elements, {n} were asked for",
                    elements.len()
                );
            }
            list_reply(&elements)
        }
        op::CLEAR_APPENDED_STATE => {
            value.clear_appended().await?;
            Vec::new()
        }
        op::LOCK_STATE_READ => {
            host::state::lock_read(c, &key, &value).await?;
            Vec::new()
        }
        op::UNLOCK_STATE_READ => {
            host::state::unlock_read(c, &key)?;
            Vec::new()
        }
        op::LOCK_STATE_WRITE => {
            host::state::lock_write(c, &key, &value).await?;
            Vec::new()
        }
        op::UNLOCK_STATE_WRITE => {
            host::state::unlock_write(c, &key, &value).await?;
            Vec::new()
        }
        _ => wasmtime::bail!("unknown host operation {code}"),
    };
    args.finish()?;
    Ok(reply)
}
