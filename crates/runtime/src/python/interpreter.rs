//! The interpreter module: `python.wasm` made ready for the Python engine, compiled once and
//! cached.
//!
//! Two changes to the module as shipped: its mutable globals are exported (`wasmtime-wizer`'s
//! instrumentation), so a snapshot can read and restore them; and its active data segments are
//! taken out, so that instantiating it copies nothing. Every instance's memory comes from a
//! snapshot instead; only the very first initialisation writes the segments in by hand
//! ([`DataSegments::write_into`]).

use std::fs::File;
use std::path::Path;

use wasmparser::{DataKind, Operator, Parser, Payload};
use wasmtime::{Engine, Module};

/// The sections dropped from the interpreter (`data` and `datacount`).
const DATA_SECTION: u8 = 11;
const DATA_COUNT_SECTION: u8 = 12;

/// The active data segments of the shipped module: (offset in memory 0, bytes).
pub(crate) struct DataSegments<'a>(Vec<(usize, &'a [u8])>);

impl<'a> DataSegments<'a> {
    pub(crate) fn parse(wasm: &'a [u8]) -> Result<Self, String> {
        let mut segments = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            let Payload::DataSection(reader) = payload.map_err(|e| e.to_string())? else {
                continue;
            };
            for data in reader {
                let data = data.map_err(|e| e.to_string())?;
                let DataKind::Active {
                    memory_index: 0,
                    offset_expr,
                } = data.kind
                else {
                    return Err("only active data segments of memory 0 are supported".into());
                };
                let offset = match offset_expr.get_operators_reader().read() {
                    Ok(Operator::I32Const { value }) => value as u32 as usize,
                    _ => return Err("a data segment's offset is not a constant".into()),
                };
                segments.push((offset, data.data));
            }
        }
        Ok(Self(segments))
    }

    /// Writes the segments into `memory`, as instantiating the shipped module would.
    pub(crate) fn write_into(&self, memory: &mut [u8]) -> Result<(), String> {
        for &(offset, bytes) in &self.0 {
            memory
                .get_mut(offset..offset + bytes.len())
                .ok_or("a data segment lies outside the initial memory")?
                .copy_from_slice(bytes);
        }
        Ok(())
    }
}

/// `wasm` with its mutable globals exported and without its data segments.
fn instrument(wasm: &[u8]) -> Result<Vec<u8>, String> {
    // Checks the segments can be applied by hand before dropping them.
    DataSegments::parse(wasm)?;
    let (_, instrumented) = wasmtime_wizer::Wizer::new()
        .instrument(wasm)
        .map_err(|e| format!("cannot instrument the interpreter: {e:#}"))?;
    // The 8-byte preamble, then every section but the data ones as they are.
    let mut reader = wasmparser::BinaryReader::new(&instrumented[8..], 8);
    let mut out = instrumented[..8].to_vec();
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().map_err(|e| e.to_string())?;
        let size = reader.read_var_u32().map_err(|e| e.to_string())?;
        reader
            .read_bytes(size as usize)
            .map_err(|e| e.to_string())?;
        if id != DATA_SECTION && id != DATA_COUNT_SECTION {
            out.extend_from_slice(&instrumented[start..reader.original_position()]);
        }
    }
    Ok(out)
}

/// The compiled interpreter, from `cache_dir` if it was compiled before with this engine
/// configuration, else compiled now (minutes on a small machine) and cached. Servers sharing
/// the cache wait for each other rather than compile it twice.
pub(crate) fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    name: &str,
    cache_dir: &Path,
) -> Result<Module, String> {
    let path = cache_dir.join(format!("{name}.cwasm"));
    let io = |e: std::io::Error| format!("interpreter cache {}: {e}", cache_dir.display());
    let lock = File::create(cache_dir.join(format!("{name}.lock"))).map_err(io)?;
    lock.lock().map_err(io)?;
    if path.exists() {
        // SAFETY: the file was written below by a server of this same faasm-rs version (its
        // name carries the engine's compatibility hash and the wasm's hash); wasmtime checks
        // the artefact's header again.
        match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(module) => return Ok(module),
            Err(e) => tracing::warn!(?path, "recompiling the interpreter: {e:#}"),
        }
    }
    tracing::info!("compiling the Python interpreter (once; this takes a while)");
    let started = std::time::Instant::now();
    let module = Module::from_binary(engine, &instrument(wasm)?)
        .map_err(|e| format!("cannot compile the interpreter: {e:#}"))?;
    let artefact = module.serialize().map_err(|e| format!("{e:#}"))?;
    let mut temp = tempfile::NamedTempFile::new_in(cache_dir).map_err(io)?;
    std::io::Write::write_all(&mut temp, &artefact).map_err(io)?;
    temp.persist(&path).map_err(|e| io(e.error))?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "compiled the interpreter"
    );
    Ok(module)
}
