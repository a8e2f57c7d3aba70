//! What a function finds around it besides Faasm's API, as Faasm's runtime provides it, so
//! that programs which look for it run unchanged: Faasm's fixed environment variables and a
//! read-only `/etc` like the one of Faasm's runtime root. (Stdout and stderr reported as
//! terminals are [`crate::capped_pipe::CappedPipe::terminal`].)

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::LazyLock;

/// The guest name of the `/etc` preopen.
pub(crate) const ETC_PREOPEN: &str = "/etc";

/// The environment Faasm gives every function (its `WasmEnvironment`): C functions get
/// exactly this; Python calls get it too, but for [`FAASM_PYTHON_LAYOUT`].
const FAASM_ENV: &[(&str, &str)] = &[
    ("MKL_NUM_THREADS", "1"),
    ("OPENBLAS_NUM_THREADS", "1"),
    ("PYTHON_PATH", "/"),
    ("PYTHONHOME", "/"),
    ("PYTHONHASHSEED", "0"),
    ("PYTHONNOUSERSITE", "on"),
    ("PYTHONWASM", "1"),
];

/// Faasm's variables that describe where its own Python library lives (`/`): the interpreter
/// here has its library at `/usr/local/lib` and must not be pointed elsewhere.
const FAASM_PYTHON_LAYOUT: &[&str] = &["PYTHON_PATH", "PYTHONHOME"];

fn owned<'a>(vars: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Vec<(String, String)> {
    vars.into_iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A C call's (and a zygote's) environment: Faasm's.
pub(crate) fn c_env() -> &'static [(String, String)] {
    static ENV: LazyLock<Vec<(String, String)>> = LazyLock::new(|| owned(FAASM_ENV));
    &ENV
}

/// A Python call's environment: `own` (the interpreter's), then Faasm's but for
/// [`FAASM_PYTHON_LAYOUT`].
pub(crate) fn python_env(own: &[(&str, &str)]) -> Vec<(String, String)> {
    let faasm = FAASM_ENV
        .iter()
        .filter(|(name, _)| !FAASM_PYTHON_LAYOUT.contains(name));
    owned(own.iter().chain(faasm))
}

/// The files of `/etc`: what Faasm's runtime root holds (`hosts`, `passwd`, `resolv.conf`,
/// which programs and libcs look for) and the time zone, UTC.
fn etc_files() -> [(&'static str, Vec<u8>); 4] {
    [
        ("hosts", b"127.0.0.1\tlocalhost\n".to_vec()),
        (
            "passwd",
            b"root:x:0:0:root:/root:/bin/sh\nfaasm:x:1000:1000:Faasm function:/tmp:/bin/sh\n"
                .to_vec(),
        ),
        // Functions have no network; the name server is only there to be read.
        ("resolv.conf", b"nameserver 8.8.8.8\n".to_vec()),
        ("localtime", utc_tzif()),
    ]
}

/// `localtime`: UTC in the TZif format (RFC 8536, version 2): no transitions, one local time
/// type (offset 0, designation `UTC`), and the POSIX TZ footer `UTC0`.
fn utc_tzif() -> Vec<u8> {
    // A header and its data block; versions 1 and 2+ have one each, identical here (the
    // 64-bit block differs only in transition times and leap seconds, and there are none).
    let mut block = b"TZif2".to_vec();
    block.extend_from_slice(&[0; 15]);
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
    for count in [0u32, 0, 0, 0, 1, 4] {
        block.extend_from_slice(&count.to_be_bytes());
    }
    // The local time type: utoff 0 (4 bytes), isdst 0, desigidx 0; then the designation.
    block.extend_from_slice(&[0; 6]);
    block.extend_from_slice(b"UTC\0");
    let mut file = block.clone();
    file.extend_from_slice(&block);
    file.extend_from_slice(b"\nUTC0\n");
    file
}

/// Makes the host directory preopened read-only as a call's `/etc`, with read-only files.
pub(crate) fn create_etc(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir)?;
    for (name, bytes) in etc_files() {
        let path = dir.join(name);
        fs::write(&path, bytes)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments() {
        let c: Vec<_> = c_env().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert!(c.contains(&"PYTHONHOME=/".to_owned()), "{c:?}");
        assert!(c.contains(&"PYTHONWASM=1".to_owned()), "{c:?}");
        let python = python_env(&[("HOME", "/tmp")]);
        assert_eq!(python[0], ("HOME".to_owned(), "/tmp".to_owned()));
        assert_eq!(
            python.len(),
            1 + FAASM_ENV.len() - FAASM_PYTHON_LAYOUT.len()
        );
        assert!(!python.iter().any(|(k, _)| k == "PYTHONHOME"));
    }

    #[test]
    fn etc_is_read_only_and_localtime_is_utc() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        create_etc(&etc).unwrap();
        let hosts = etc.join("hosts");
        assert_eq!(fs::read(&hosts).unwrap(), b"127.0.0.1\tlocalhost\n");
        assert!(fs::metadata(&hosts).unwrap().permissions().readonly());
        let tzif = fs::read(etc.join("localtime")).unwrap();
        assert_eq!(tzif.len(), 2 * (44 + 6 + 4) + 6);
        assert!(tzif.starts_with(b"TZif2") && tzif.ends_with(b"\nUTC0\n"));
    }
}
