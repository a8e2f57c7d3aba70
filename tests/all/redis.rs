//! A real `redis-server` on a free loopback port, killed on drop (installed by `scripts/setup`;
//! the one launcher: crates/state/tests/tiers.rs includes this file too),
//! and a minimal RESP client to look at and change what faasm stored there.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// A Redis reply.
#[derive(Debug, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

impl Redis {
    pub fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = spawn(port, dir.path());
        let redis = Redis {
            child,
            port,
            _dir: dir,
        };
        redis.wait_ready();
        redis
    }

    /// Kills the server (its data is lost: nothing is persisted) and starts a new one on the
    /// same port.
    pub fn restart(&mut self) {
        let _ = std::fs::remove_file(self._dir.path().join(SNAPSHOT));
        self.kill_and_start();
    }

    /// Saves the data to disk (as a persistent Redis would have it), kills the server and
    /// starts a new one on the same port, which loads it.
    pub fn restart_keeping_data(&mut self) {
        assert_eq!(self.command(&[b"SAVE"]), Resp::Simple("OK".into()));
        self.kill_and_start();
    }

    fn kill_and_start(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.port, self._dir.path());
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_command(&[b"PING"]).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_command(&self, args: &[&[u8]]) -> std::io::Result<Resp> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request)?;
        read_reply(&mut BufReader::new(stream))
    }

    pub fn command(&self, args: &[&[u8]]) -> Resp {
        self.try_command(args).expect("talk to redis-server")
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.command(&[b"GET", key.as_bytes()]) {
            Resp::Bulk(value) => value,
            other => panic!("GET {key}: {other:?}"),
        }
    }

    pub fn set(&self, key: &str, value: &[u8]) {
        let reply = self.command(&[b"SET", key.as_bytes(), value]);
        assert_eq!(reply, Resp::Simple("OK".into()));
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file `SAVE` writes in the server's directory, loaded at start.
const SNAPSHOT: &str = "dump.rdb";

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dbfilename", SNAPSHOT])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server (installed by scripts/setup)")
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    let bad = || std::io::Error::other(format!("bad reply line {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    let number = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(number()?),
        "$" => match number()? {
            -1 => Resp::Bulk(None),
            len => {
                let mut bytes = vec![0; len as usize + 2];
                reader.read_exact(&mut bytes)?;
                bytes.truncate(len as usize);
                Resp::Bulk(Some(bytes))
            }
        },
        "*" => {
            let n = number()?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(reader)?);
            }
            Resp::Array(items)
        }
        _ => return Err(bad()),
    })
}
