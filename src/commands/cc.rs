//! `faasm cc`: compile C/C++ to a Faasm function (`wasm32-wasi`) with Debian's clang-19.
//!
//! The SDK headers are embedded in this binary and written to a per-user cache directory, next
//! to a private sysroot made of two symlinks into Debian's wasi-libc / libc++ packages:
//!
//! ```text
//! <cache>/faasm-rs/<version>/include/faasm/*.h
//! <cache>/faasm-rs/<version>/sysroot/include/wasm32-wasi -> /usr/include/wasm32-wasi
//! <cache>/faasm-rs/<version>/sysroot/lib/wasm32-wasi     -> /usr/lib/wasm32-wasi
//! ```
//!
//! clang's WASI driver searches `<sysroot>/include/wasm32-wasi` (and its `c++/v1`) for headers
//! and `<sysroot>/lib/wasm32-wasi` for `crt1-command.o`, `libc.a`, `libc++.a`, `libc++abi.a`.
//! A private sysroot (rather than `--sysroot=/usr`) keeps the host's glibc headers in
//! `/usr/include` out of the search path.
//!
//! Like Faasm's toolchain, every build enables wasi-libc's POSIX emulations (mmap, clock,
//! signal, getpid) and links the `long double` printf/scanf, so Faasm's functions that use
//! them compile and run unchanged.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// Compile C/C++ to a Faasm function: `faasm cc [clang args] -o OUT.wasm SRC.c|SRC.cpp`.
///
/// All arguments go to clang-19 (clang++-19 for C++ sources) targeting wasm32-wasi, with the
/// Faasm SDK headers on the include path. Set FAASM_CC_VERBOSE=1 to print the clang command.
#[derive(clap::Args)]
pub struct CcArgs {
    /// Arguments for clang: sources, `-o OUT.wasm`, flags.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..,
        value_name = "CLANG_ARGS"
    )]
    pub args: Vec<OsString>,
}

/// `("name.h", <contents of sdk/c/include/faasm/name.h>)`.
macro_rules! sdk_header {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../sdk/c/include/faasm/", $name)),
        )
    };
}

/// The SDK headers, embedded so `faasm cc` works from any directory: Faasm's libfaasm headers,
/// header-only here (less `memory.h`, a workaround for another wasm runtime), and `emscripten.h`
/// from Faasm's libemscripten.
const SDK_HEADERS: &[(&str, &str)] = &[
    sdk_header!("array.h"),
    sdk_header!("compare.h"),
    sdk_header!("core.h"),
    sdk_header!("emscripten.h"),
    sdk_header!("faasm.h"),
    sdk_header!("files.h"),
    sdk_header!("host_interface.h"),
    sdk_header!("host_interface_test.h"),
    sdk_header!("input.h"),
    sdk_header!("migrate.h"),
    sdk_header!("print.h"),
    sdk_header!("random.h"),
    sdk_header!("shared_mem.h"),
    sdk_header!("state.h"),
    sdk_header!("time.h"),
];

/// `mpi.h` (docs/mpi.md), installed at the top of the include directory as MPI programs expect.
const MPI_HEADER: &str = include_str!("../../sdk/c/include/mpi.h");

/// wasi-libc's emulations of POSIX calls WASI lacks, which Faasm's functions get from its
/// toolchain (mmap from its own libc): each needs a define (without it the declarations are
/// hidden, or `#error`) and a library at link time. All four are in Debian's wasi-libc package.
const WASI_EMULATIONS: &[(&str, &str)] = &[
    // mmap/munmap of anonymous memory (malloc'd underneath) and private copies of files.
    ("-D_WASI_EMULATED_MMAN", "-lwasi-emulated-mman"),
    // clock(), times(), getrusage() (from the monotonic clock).
    (
        "-D_WASI_EMULATED_PROCESS_CLOCKS",
        "-lwasi-emulated-process-clocks",
    ),
    // signal() and raise() (a raised signal's default action ends the call: it fails).
    ("-D_WASI_EMULATED_SIGNAL", "-lwasi-emulated-signal"),
    // getpid() (a constant).
    ("-D_WASI_EMULATED_GETPID", "-lwasi-emulated-getpid"),
];

/// wasi-libc's plain printf/scanf trap on `long double` (`%Lf`); this library has the full
/// versions. lld takes the first archive that defines a symbol, and clang adds `-lc` after the
/// user's arguments, so these definitions win.
const LONG_DOUBLE_PRINTF: &str = "-lc-printscan-long-double";

/// Where Debian's wasm32-wasi packages put headers and libraries.
const WASI_INCLUDE: &str = "/usr/include/wasm32-wasi";
const WASI_LIB: &str = "/usr/lib/wasm32-wasi";

/// Wasm stack size, as in Faasm's toolchain (the stack is placed first, so an overflow traps
/// instead of silently overwriting static data).
const STACK_SIZE: u32 = 4 * 1024 * 1024;

const APT_PACKAGES: &str = "clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc \
                            libc++-19-dev-wasm32 libc++abi-19-dev-wasm32";

pub fn run(args: CcArgs) -> anyhow::Result<ExitCode> {
    if args.args.is_empty() {
        bail!("usage: faasm cc [clang args] -o OUT.wasm SRC.c|SRC.cpp");
    }
    let cxx = args.args.iter().any(|a| is_cxx_source(Path::new(a)));
    let compiler = if cxx { "clang++-19" } else { "clang-19" };
    let compiler_path = find_in_path(compiler).ok_or_else(|| missing_toolchain(compiler))?;
    check_toolchain(cxx)?;

    let root = cache_root()?;
    let include = install_headers(&root)?;
    let sysroot = install_sysroot(&root)?;

    let mut cmd = Command::new(&compiler_path);
    cmd.args(clang_args(&args.args, cxx, &include, &sysroot));
    if std::env::var_os("FAASM_CC_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("{}", render_command(&cmd));
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", compiler_path.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
        None => ExitCode::FAILURE,
    })
}

/// The full clang argument list: our target flags first, then the user's arguments.
fn clang_args(user: &[OsString], cxx: bool, include: &Path, sysroot: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![
        "--target=wasm32-wasi".into(),
        format!("--sysroot={}", sysroot.display()).into(),
        format!("-I{}", include.display()).into(),
    ];
    let has_opt_level = user
        .iter()
        .any(|a| a.to_str().is_some_and(|s| s.starts_with("-O")));
    if !has_opt_level {
        out.push("-O2".into());
    }
    if cxx {
        out.push("-fno-exceptions".into());
    }
    // Defines always, so `-c` builds see the same headers as a one-step build.
    for (define, _) in WASI_EMULATIONS {
        out.push(OsString::from(*define));
    }
    let link = links(user);
    if link {
        for flag in [
            "-Wl,--export-if-defined=_faasm_zygote".to_string(),
            "-Wl,--export-table".to_string(),
            "-Wl,--stack-first".to_string(),
            format!("-Wl,-z,stack-size={STACK_SIZE}"),
        ] {
            out.push(flag.into());
        }
        // Debian's wasi-libc carries DWARF; drop it unless the user asked for debug info.
        let wants_debug = user.iter().any(|a| {
            a.to_str()
                .is_some_and(|s| s.starts_with("-g") && s != "-g0")
        });
        if !wants_debug {
            out.push("-Wl,--strip-debug".into());
        }
    }
    out.extend(user.iter().cloned());
    // Libraries after the user's objects (lld only pulls members that are referenced).
    if link {
        for (_, lib) in WASI_EMULATIONS {
            out.push(OsString::from(*lib));
        }
        out.push(LONG_DOUBLE_PRINTF.into());
    }
    out
}

/// Whether this clang invocation links (no `-c`, `-S`, `-E`, ... that stop before the linker).
fn links(user: &[OsString]) -> bool {
    !user.iter().any(|a| {
        matches!(
            a.to_str(),
            Some("-c" | "-S" | "-E" | "-M" | "-MM" | "-fsyntax-only" | "-emit-llvm")
        )
    })
}

fn is_cxx_source(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("cpp" | "cc" | "cxx" | "C" | "c++")
    )
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn missing_toolchain(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} not found: the wasm32-wasi C/C++ toolchain is not installed.\n\
         Run scripts/setup from the faasm-rs repository, or:\n  \
         sudo apt-get install -y {APT_PACKAGES}"
    )
}

/// Check the Debian packages clang needs beyond itself, naming the missing one.
fn check_toolchain(cxx: bool) -> anyhow::Result<()> {
    let mut needed = vec![
        (format!("{WASI_INCLUDE}/stdio.h"), "wasi-libc"),
        (format!("{WASI_LIB}/libc.a"), "wasi-libc"),
    ];
    if cxx {
        needed.push((
            format!("{WASI_INCLUDE}/c++/v1/vector"),
            "libc++-19-dev-wasm32",
        ));
        needed.push((format!("{WASI_LIB}/libc++.a"), "libc++-19-dev-wasm32"));
        needed.push((format!("{WASI_LIB}/libc++abi.a"), "libc++abi-19-dev-wasm32"));
    }
    for (path, package) in needed {
        if !Path::new(&path).exists() {
            return Err(missing_toolchain(&format!("{path} (package {package})")));
        }
    }
    if find_in_path("wasm-ld-19").is_none() && !Path::new("/usr/lib/llvm-19/bin/wasm-ld").exists() {
        return Err(missing_toolchain("wasm-ld-19 (package lld-19)"));
    }
    if !builtins_installed() {
        return Err(missing_toolchain(
            "libclang_rt.builtins-wasm32.a (package libclang-rt-19-dev-wasm32)",
        ));
    }
    Ok(())
}

/// compiler-rt's wasm32 builtins live in clang's resource dir: /usr/lib/llvm-19/lib/clang/<v>.
fn builtins_installed() -> bool {
    let Ok(entries) = fs::read_dir("/usr/lib/llvm-19/lib/clang") else {
        return false;
    };
    entries.flatten().any(|e| {
        e.path()
            .join("lib/wasi/libclang_rt.builtins-wasm32.a")
            .exists()
    })
}

/// `$XDG_CACHE_HOME/faasm-rs/<version>` (or `$HOME/.cache/...`, or the temp dir).
fn cache_root() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    let root = base.join("faasm-rs").join(env!("CARGO_PKG_VERSION"));
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    Ok(root)
}

/// Write the embedded headers under `<root>/include/` (`faasm/*.h` and `mpi.h`), touching only
/// changed files.
fn install_headers(root: &Path) -> anyhow::Result<PathBuf> {
    let include = root.join("include");
    let dir = include.join("faasm");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let headers = SDK_HEADERS
        .iter()
        .map(|(name, text)| (dir.join(name), *text))
        .chain(std::iter::once((include.join("mpi.h"), MPI_HEADER)));
    for (path, text) in headers {
        if fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        // Write then rename, so a concurrent `faasm cc` never reads a half-written header.
        let name = path.file_name().expect("a file").to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(include)
}

/// Create (or repair) the two-symlink sysroot under `<root>/sysroot`.
fn install_sysroot(root: &Path) -> anyhow::Result<PathBuf> {
    let sysroot = root.join("sysroot");
    for (sub, target) in [("include", WASI_INCLUDE), ("lib", WASI_LIB)] {
        let dir = sysroot.join(sub);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let link = dir.join("wasm32-wasi");
        if fs::read_link(&link).is_ok_and(|t| t == Path::new(target)) {
            continue;
        }
        // Symlink then rename, atomic for concurrent runs.
        let tmp = dir.join(format!(".wasm32-wasi.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)
            .with_context(|| format!("creating symlink {}", tmp.display()))?;
        fs::rename(&tmp, &link)
            .with_context(|| format!("replacing {} (remove it and retry)", link.display()))?;
    }
    Ok(sysroot)
}

fn render_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn detects_cxx_sources() {
        assert!(is_cxx_source(Path::new("a/b.cpp")));
        assert!(is_cxx_source(Path::new("b.cc")));
        assert!(is_cxx_source(Path::new("b.C")));
        assert!(!is_cxx_source(Path::new("b.c")));
        assert!(!is_cxx_source(Path::new("out.wasm")));
    }

    #[test]
    fn builds_link_command() {
        let user = args(&["-o", "x.wasm", "x.cpp"]);
        let out = clang_args(&user, true, Path::new("/inc"), Path::new("/sr"));
        let out: Vec<_> = out.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            &out[..5],
            &[
                "--target=wasm32-wasi",
                "--sysroot=/sr",
                "-I/inc",
                "-O2",
                "-fno-exceptions"
            ]
        );
        assert!(out.contains(&"-Wl,--export-table"));
        assert!(out.contains(&"-Wl,--export-if-defined=_faasm_zygote"));
        assert!(out.contains(&"-D_WASI_EMULATED_MMAN"));
        assert!(out.contains(&"-D_WASI_EMULATED_PROCESS_CLOCKS"));
        // The user's arguments, then the emulation libraries (before clang's own -lc).
        let user_at = out.iter().position(|a| *a == "-o").unwrap();
        assert_eq!(
            &out[user_at..],
            &[
                "-o",
                "x.wasm",
                "x.cpp",
                "-lwasi-emulated-mman",
                "-lwasi-emulated-process-clocks",
                "-lwasi-emulated-signal",
                "-lwasi-emulated-getpid",
                "-lc-printscan-long-double"
            ]
        );
    }

    #[test]
    fn respects_user_opt_level_and_compile_only() {
        let user = args(&["-O0", "-c", "x.c"]);
        let out = clang_args(&user, false, Path::new("/inc"), Path::new("/sr"));
        assert!(!out.iter().any(|a| a == "-O2"));
        assert!(!out.iter().any(|a| a.to_str().unwrap().starts_with("-Wl,")));
        // Compiling only: the emulation defines, but no libraries.
        assert!(out.iter().any(|a| a == "-D_WASI_EMULATED_SIGNAL"));
        assert!(!out.iter().any(|a| a.to_str().unwrap().starts_with("-l")));
    }
}
