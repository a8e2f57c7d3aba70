//! [`BulkWriter`]: writes large values to Redis straight from the caller's buffer. The redis
//! crate copies a command's arguments into its own buffers three times before sending, which
//! halves SET throughput for MiB-sized values; here the RESP header is formatted, then the value
//! is written from where it lies. Plain TCP connections only (others use the redis crate).

use bytes::Bytes;
use parking_lot::Mutex;
use redis::{ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::StateError;
use crate::global::Result;

/// Values at least this large go through the bulk writer.
pub(crate) const BULK_BYTES: usize = 64 << 10;

pub(crate) struct BulkWriter {
    host: String,
    port: u16,
    /// AUTH / SELECT commands (as argument lists) run on each new connection.
    setup: Vec<Vec<Bytes>>,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
}

fn error(what: impl std::fmt::Display) -> StateError {
    StateError::Global(format!("redis: {what}"))
}

fn header(args: &[&[u8]], last_len: usize) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len() + 1).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("${last_len}\r\n").as_bytes());
    out
}

impl BulkWriter {
    /// `None` unless the connection is plain TCP.
    pub(crate) fn new(info: &ConnectionInfo) -> Option<Self> {
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return None;
        };
        let settings = info.redis_settings();
        let mut setup = Vec::new();
        if let Some(password) = settings.password() {
            let mut auth = vec![Bytes::from_static(b"AUTH")];
            if let Some(user) = settings.username() {
                auth.push(Bytes::copy_from_slice(user.as_bytes()));
            }
            auth.push(Bytes::copy_from_slice(password.as_bytes()));
            setup.push(auth);
        }
        if settings.db() != 0 {
            let db = Bytes::from(settings.db().to_string());
            setup.push(vec![Bytes::from_static(b"SELECT"), db]);
        }
        Some(Self {
            host: host.clone(),
            port: *port,
            setup,
            idle: Mutex::default(),
        })
    }

    async fn connect(&self) -> Result<BufReader<TcpStream>> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(error)?;
        stream.set_nodelay(true).map_err(error)?;
        let mut stream = BufReader::new(stream);
        for command in &self.setup {
            let (last, args) = command.split_last().expect("setup commands have arguments");
            let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            send(&mut stream, &args, last).await?;
        }
        Ok(stream)
    }

    /// Runs the command `args ++ [last]`, `last` written from where it lies; fails on an error
    /// reply. A connection is reused only after a whole exchange, so a cancelled call (its
    /// future dropped mid-write) never leaves a half-written command behind.
    pub(crate) async fn command(&self, args: &[&[u8]], last: &[u8]) -> Result<()> {
        let idle = self.idle.lock().pop();
        let mut stream = match idle {
            Some(stream) => stream,
            None => self.connect().await?,
        };
        send(&mut stream, args, last).await?;
        self.idle.lock().push(stream);
        Ok(())
    }
}

async fn send(stream: &mut BufReader<TcpStream>, args: &[&[u8]], last: &[u8]) -> Result<()> {
    let socket = stream.get_mut();
    socket
        .write_all(&header(args, last.len()))
        .await
        .map_err(error)?;
    socket.write_all(last).await.map_err(error)?;
    socket.write_all(b"\r\n").await.map_err(error)?;
    let mut reply = Vec::new();
    stream.read_until(b'\n', &mut reply).await.map_err(error)?;
    match reply.first() {
        Some(b'+' | b':') => Ok(()),
        Some(b'-') => Err(error(String::from_utf8_lossy(&reply[1..]).trim_end())),
        _ => Err(error(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&reply)
        ))),
    }
}
