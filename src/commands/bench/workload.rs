//! What the faasm server runs: the functions, how they are uploaded and what they answer.

use std::process::Command;

use anyhow::{Context, ensure};

/// What the echo functions answer, and what the baseline answers too, so both targets move the
/// same bytes.
pub(super) const EXPECTED_BODY: &[u8] = b"hello";

/// A numpy computation, then the input echoed. The module does not warm numpy up itself: what
/// numpy sets up on first use must come from the function's snapshot (docs/python.md).
const NUMPY_PY: &str = r#"
import numpy as np
from pyfaasm.core import get_input, set_output

A = np.array([[3.0, 2.0, -1.0], [2.0, -2.0, 4.0], [-1.0, 0.5, -1.0]])
B = np.array([1.0, -2.0, 0.0])


def faasm_main():
    x = np.linalg.solve(A, B)
    assert abs(x[2] + 2.0) < 1e-9
    set_output(get_input())
"#;

/// The function every benchmark call runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum Workload {
    /// A WebAssembly echo (WAT): the floor, no libc.
    Echo,
    /// examples/c/echo.c compiled by `faasm cc -O2`: what a C user runs.
    CEcho,
    /// examples/c/hello.c: printf to the captured stdout.
    CHello,
    /// examples/cpp/containers.cpp: C++ with the standard library.
    Cpp,
    /// examples/c/zygote_echo.c: an echo starting from its zygote's snapshot.
    Zygote,
    /// The same echo posted with `"async": true`: measures accepting durable async calls.
    EchoAsync,
    /// examples/python/echo.py.
    PythonEcho,
    /// `np.linalg.solve` of a 3x3 system (without a warm-up at import), then an echo.
    PythonNumpy,
}

impl Workload {
    /// Where it is uploaded and what is uploaded.
    pub(super) fn upload(self) -> anyhow::Result<(&'static str, Vec<u8>)> {
        Ok(match self {
            Self::Echo | Self::EchoAsync => (
                "/f/bench/echo",
                wat::parse_str(ECHO_WAT).expect("the echo module is valid WAT"),
            ),
            Self::CEcho => (
                "/f/bench/c-echo",
                compile_c("echo.c", include_str!("../../../examples/c/echo.c"))?,
            ),
            Self::CHello => (
                "/f/bench/c-hello",
                compile_c("hello.c", include_str!("../../../examples/c/hello.c"))?,
            ),
            Self::Cpp => (
                "/f/bench/cpp",
                compile_c(
                    "containers.cpp",
                    include_str!("../../../examples/cpp/containers.cpp"),
                )?,
            ),
            Self::Zygote => (
                "/f/bench/zygote",
                compile_c(
                    "zygote_echo.c",
                    include_str!("../../../examples/c/zygote_echo.c"),
                )?,
            ),
            Self::PythonEcho => (
                "/p/bench/echo",
                include_bytes!("../../../examples/python/echo.py").to_vec(),
            ),
            Self::PythonNumpy => ("/p/bench/numpy", NUMPY_PY.as_bytes().to_vec()),
        })
    }

    /// Whether a call's answer is right: the echo, or a call id for an async call.
    pub(super) fn expected(self, body: &[u8]) -> bool {
        match self {
            Self::EchoAsync => std::str::from_utf8(body).is_ok_and(|id| id.parse::<u64>().is_ok()),
            Self::CHello => body == b"Hello faasm!\n",
            Self::Cpp => body == b"words=1 unique=1 top=hello:1",
            _ => body == EXPECTED_BODY,
        }
    }

    /// The invoke request every call sends.
    pub(super) fn invoke_body(self) -> &'static [u8] {
        match self {
            Self::Echo => br#"{"user":"bench","function":"echo","input_data":"hello"}"#,
            Self::CEcho => br#"{"user":"bench","function":"c-echo","input_data":"hello"}"#,
            Self::CHello => br#"{"user":"bench","function":"c-hello","input_data":"hello"}"#,
            Self::Cpp => br#"{"user":"bench","function":"cpp","input_data":"hello"}"#,
            Self::Zygote => br#"{"user":"bench","function":"zygote","input_data":"hello"}"#,
            Self::EchoAsync => {
                br#"{"user":"bench","function":"echo","input_data":"hello","async":true}"#
            }
            Self::PythonEcho => {
                br#"{"python":true,"py_user":"bench","py_func":"echo","input_data":"hello"}"#
            }
            Self::PythonNumpy => {
                br#"{"python":true,"py_user":"bench","py_func":"numpy","input_data":"hello"}"#
            }
        }
    }
}

/// Compiles an example with this binary's `faasm cc -O2`, as a user would.
fn compile_c(name: &str, source: &str) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let (src, out) = (dir.path().join(name), dir.path().join("function.wasm"));
    std::fs::write(&src, source)?;
    let status = Command::new(std::env::current_exe()?)
        .arg("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .context("running faasm cc")?;
    ensure!(status.success(), "faasm cc {name} failed ({status})");
    Ok(std::fs::read(out)?)
}

/// Copies the call's input to its output.
const ECHO_WAT: &str = include_str!("../../../benches/echo.wat");
