//! Host calls of SPEC §4 whose capability has not landed yet (state, Python). They are
//! linked with their real signatures so modules that import them load and run; calling one
//! traps with `not implemented yet: <name>`, failing that call only.

use wasmtime::{FuncType, Linker, ValType};

use super::MODULE;
use crate::call::CallState;

/// (name, number of i32 parameters, number of i32 results)
const PENDING: &[(&str, usize, usize)] = &[
    ("__faasm_read_state", 3, 1),
    ("__faasm_read_state_ptr", 2, 1),
    ("__faasm_read_state_offset", 5, 0),
    ("__faasm_read_state_offset_ptr", 4, 1),
    ("__faasm_write_state", 3, 0),
    ("__faasm_write_state_offset", 5, 0),
    ("__faasm_write_state_from_file", 2, 1),
    ("__faasm_flag_state_dirty", 2, 0),
    ("__faasm_flag_state_offset_dirty", 4, 0),
    ("__faasm_push_state", 1, 0),
    ("__faasm_push_state_partial", 1, 0),
    ("__faasm_push_state_partial_mask", 2, 0),
    ("__faasm_pull_state", 2, 0),
    ("__faasm_append_state", 3, 0),
    ("__faasm_read_appended_state", 4, 0),
    ("__faasm_clear_appended_state", 1, 0),
    ("__faasm_lock_state_read", 1, 0),
    ("__faasm_unlock_state_read", 1, 0),
    ("__faasm_lock_state_write", 1, 0),
    ("__faasm_unlock_state_write", 1, 0),
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
