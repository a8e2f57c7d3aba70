//! The imports of Faasm's own Python runner (a C program that embeds CPython):
//! `__faasm_get_py_user`, `__faasm_get_py_func`, `__faasm_get_py_entry` and `__faasm_chain_py`.
//! faasm-rs runs Python functions with its own interpreter and `pyfaasm`'s host door
//! (`crate::python`), which needs none of them, so they are linked with their real signatures
//! (modules that import them still load) and trap with a message saying so.

use wasmtime::{FuncType, Linker, ValType};

use super::MODULE;

/// (name, number of i32 parameters, number of i32 results)
const RUNNER_IMPORTS: &[(&str, usize, usize)] = &[
    ("__faasm_get_py_user", 2, 0),
    ("__faasm_get_py_func", 2, 0),
    ("__faasm_get_py_entry", 2, 0),
    ("__faasm_chain_py", 3, 1),
];

pub(super) fn add_to_linker<T: 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    for &(name, params, results) in RUNNER_IMPORTS {
        let ty = FuncType::new(
            linker.engine(),
            std::iter::repeat_n(ValType::I32, params),
            std::iter::repeat_n(ValType::I32, results),
        );
        linker.func_new(MODULE, name, ty, move |_, _, _| {
            wasmtime::bail!(
                "{name} belongs to Faasm's C Python runner, which faasm-rs does not use: upload \
                 Python source to /p/{{user}}/{{function}} and call pyfaasm from it instead"
            )
        })?;
    }
    Ok(())
}
