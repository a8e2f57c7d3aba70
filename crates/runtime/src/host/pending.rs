//! Host calls of SPEC §4 whose capability has not landed yet (state from files, Python). They are
//! linked with their real signatures so modules that import them load and run; calling one
//! traps with `not implemented yet: <name>`, failing that call only.

use wasmtime::{FuncType, Linker, ValType};

use super::MODULE;
use crate::call::CallState;

/// (name, number of i32 parameters, number of i32 results)
const PENDING: &[(&str, usize, usize)] = &[
    ("__faasm_get_py_user", 2, 0),
    ("__faasm_get_py_func", 2, 0),
    ("__faasm_get_py_entry", 2, 0),
    ("__faasm_chain_py", 3, 1),
];

pub(super) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    for &(name, params, results) in PENDING {
        let ty = FuncType::new(
            linker.engine(),
            std::iter::repeat_n(ValType::I32, params),
            std::iter::repeat_n(ValType::I32, results),
        );
        linker.func_new(MODULE, name, ty, move |_, _, _| {
            wasmtime::bail!("not implemented yet: {name}")
        })?;
    }
    Ok(())
}
