//! Direct connections between the hosts of a deployment, for MPI worlds spread over them.
//! Each host listens on its peer address (advertised in its heartbeat) and opens one
//! connection to each host it sends to; frames from one host to another therefore arrive in
//! the order they were sent, which keeps MPI's non-overtaking rule across hosts. A connection
//! that fails or ends fails every world that has a part on the host at its other end.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use faasm_runtime::{Message, Payload};
use parking_lot::Mutex;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::spread::{self, SpreadWorld};
use super::wire::{Control, Frame, WorldId};
use crate::Scheduler;

/// How long opening a connection to another host may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Socket buffers on both ends: small frames are gathered into one write.
const BUFFER: usize = 64 << 10;

/// This host's connections and its parts of spread worlds.
pub(crate) struct Peers {
    /// This host's peer address, as the other hosts reach it.
    pub this: String,
    scheduler: Weak<Scheduler>,
    /// Where connections and world bookkeeping run (not on the guests' threads).
    runtime: tokio::runtime::Handle,
    links: Mutex<HashMap<String, Link>>,
    worlds: Mutex<HashMap<WorldId, Arc<SpreadWorld>>>,
    /// Reservations asked of other hosts and not answered yet.
    asked: Mutex<HashMap<(WorldId, String), oneshot::Sender<usize>>>,
    /// Bytes of messages queued for one host and not yet written; a sender waits beyond it.
    queued_limit: usize,
}

/// The sending side of a connection to one host.
#[derive(Clone)]
struct Link {
    frames: mpsc::UnboundedSender<Queued>,
    room: Arc<Semaphore>,
}

struct Queued {
    frame: Frame,
    /// Its share of the link's room, given back once written.
    _room: Option<OwnedSemaphorePermit>,
}

impl Peers {
    /// `queued_limit` bounds the bytes waiting to be written to any one host, and so also the
    /// largest frame this host accepts. Its tasks run on the runtime this is called on.
    pub fn new(this: String, scheduler: Weak<Scheduler>, queued_limit: usize) -> Arc<Self> {
        Arc::new(Self {
            this,
            scheduler,
            runtime: tokio::runtime::Handle::current(),
            links: Mutex::default(),
            worlds: Mutex::default(),
            asked: Mutex::default(),
            queued_limit: queued_limit.clamp(1 << 20, u32::MAX as usize),
        })
    }

    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(task);
    }

    /// Accepts the connections of other hosts.
    pub fn serve(self: &Arc<Self>, listener: TcpListener) {
        let peers = self.clone();
        self.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => peers.spawn(peers.clone().read(stream)),
                    Err(err) => {
                        tracing::warn!("accepting a connection from another host: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }

    /// Reads one host's frames until its connection ends.
    async fn read(self: Arc<Self>, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut input = BufReader::with_capacity(BUFFER, stream);
        let max_len = self.queued_limit + 64;
        let from = match Frame::read(&mut input, max_len).await {
            Ok(Some(Frame::Control(Control::Hello { host }))) => host,
            _ => {
                tracing::warn!(peer, "a connection that did not start with a hello, closed");
                return;
            }
        };
        let ended = loop {
            match Frame::read(&mut input, max_len).await {
                Ok(Some(frame)) => self.receive(&from, frame),
                Ok(None) => break "closed its connection".to_owned(),
                Err(err) => break format!("broke its connection ({err})"),
            }
        };
        self.lost(&from, &ended);
    }

    fn receive(self: &Arc<Self>, from: &str, frame: Frame) {
        match frame {
            Frame::Message {
                world,
                dest,
                envelope,
                data,
            } => {
                let message = Message {
                    envelope,
                    data: Payload::Owned(data),
                };
                let Some(world) = self.world(world) else {
                    // The world ended here: nobody can receive it any more.
                    return;
                };
                if let Err(err) = world.deliver_here(dest, message) {
                    world.fail(self, &format!("Call failed: MPI world failed: {err}"));
                }
            }
            Frame::Control(control) => self.control(from, control),
        }
    }

    fn control(self: &Arc<Self>, from: &str, control: Control) {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return;
        };
        match control {
            Control::Hello { .. } => {}
            Control::Reserve {
                world,
                user,
                size,
                count,
            } => {
                let granted =
                    spread::reserve_here(&scheduler, self, from, world, user, size, count);
                let reply = Control::Reserved { world, granted };
                self.post(from, Frame::Control(reply));
            }
            Control::Reserved { world, granted } => {
                if let Some(asked) = self.asked.lock().remove(&(world, from.to_owned())) {
                    let _ = asked.send(granted);
                }
            }
            Control::Start {
                world,
                call,
                hosts,
                ids,
            } => {
                if let Some(world) = self.world(world) {
                    let peers = self.clone();
                    self.spawn(async move {
                        spread::start_here(&scheduler, &peers, world, call, hosts, ids).await;
                    });
                }
            }
            Control::Abort { world, reason } => {
                if let Some(world) = self.world(world) {
                    world.fail(self, &reason);
                }
            }
            Control::Release { world } => {
                if let Some(world) = self.world(world) {
                    world.release_here(self);
                }
            }
            Control::RankDone { world, rank, error } => {
                if let Some(world) = self.world(world) {
                    world.rank_done(self, rank, error);
                }
            }
        }
    }

    /// Queues `frame` for `host` without waiting (control frames, which are small and few).
    pub fn post(self: &Arc<Self>, host: &str, frame: Frame) {
        let _ = self.link(host).frames.send(Queued { frame, _room: None });
    }

    /// Queues a message frame for `host`, waiting while the bytes queued for it are over the
    /// limit. A message larger than the limit fails its own world here: the receiving host
    /// would refuse the frame and drop the connection, failing every world that shares it.
    pub async fn send(self: &Arc<Self>, host: &str, frame: Frame) -> Result<(), String> {
        let bytes = frame.message_bytes();
        if bytes > self.queued_limit {
            return Err(format!(
                "a message of {bytes} bytes is over the {} bytes a host may queue for another \
                 (--mpi-buffer-limit)",
                self.queued_limit
            ));
        }
        let link = self.link(host);
        let share = bytes.max(1) as u32;
        let room = link.room.clone().acquire_many_owned(share).await;
        let room = room.map_err(|_| format!("the connection to host {host} is closed"))?;
        let queued = Queued {
            frame,
            _room: Some(room),
        };
        link.frames
            .send(queued)
            .map_err(|_| format!("the connection to host {host} is closed"))?;
        metrics::counter!("faasm_mpi_host_messages_total").increment(1);
        metrics::counter!("faasm_mpi_host_message_bytes_total").increment(bytes as u64);
        Ok(())
    }

    /// Asks `host` to hold instances for up to `count` ranks of `world`; how many it holds
    /// (none if it does not answer within `timeout`).
    pub async fn reserve(
        self: &Arc<Self>,
        host: &str,
        world: &SpreadWorld,
        count: usize,
        timeout: Duration,
    ) -> usize {
        let (answer, answered) = oneshot::channel();
        let key = (world.id, host.to_owned());
        self.asked.lock().insert(key.clone(), answer);
        let reserve = Control::Reserve {
            world: world.id,
            user: world.user.clone(),
            size: world.size,
            count,
        };
        self.post(host, Frame::Control(reserve));
        let granted = tokio::time::timeout(timeout, answered).await;
        self.asked.lock().remove(&key);
        granted.ok().and_then(Result::ok).unwrap_or(0)
    }

    pub fn register(&self, world: Arc<SpreadWorld>) {
        self.worlds.lock().insert(world.id, world);
    }

    pub fn unregister(&self, world: WorldId) {
        self.worlds.lock().remove(&world);
    }

    fn world(&self, world: WorldId) -> Option<Arc<SpreadWorld>> {
        self.worlds.lock().get(&world).cloned()
    }

    /// The sending side to `host`, opened on first use.
    fn link(self: &Arc<Self>, host: &str) -> Link {
        let mut links = self.links.lock();
        if let Some(link) = links.get(host) {
            return link.clone();
        }
        let (frames, queued) = mpsc::unbounded_channel();
        let link = Link {
            frames,
            room: Arc::new(Semaphore::new(self.queued_limit)),
        };
        links.insert(host.to_owned(), link.clone());
        self.spawn(
            self.clone()
                .write(host.to_owned(), queued, link.room.clone()),
        );
        link
    }

    /// Connects to `host` and writes what is queued for it, until the connection fails.
    async fn write(
        self: Arc<Self>,
        host: String,
        mut queued: mpsc::UnboundedReceiver<Queued>,
        room: Arc<Semaphore>,
    ) {
        let written = async {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&host))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            stream.set_nodelay(true)?;
            let mut out = BufWriter::with_capacity(BUFFER, stream);
            let hello = Control::Hello {
                host: self.this.clone(),
            };
            Frame::Control(hello).write(&mut out).await?;
            out.flush().await?;
            while let Some(next) = queued.recv().await {
                next.frame.write(&mut out).await?;
                drop(next);
                // Whatever else is queued goes out in the same write.
                while let Ok(next) = queued.try_recv() {
                    next.frame.write(&mut out).await?;
                }
                out.flush().await?;
            }
            Ok::<_, std::io::Error>(())
        };
        if let Err(err) = written.await {
            // Senders waiting for room learn the link is gone.
            room.close();
            self.lost(&host, &format!("cannot be reached ({err})"));
        }
    }

    /// `host` went away: every world with a part there fails, and the next frame for it opens
    /// a new connection.
    fn lost(self: &Arc<Self>, host: &str, how: &str) {
        self.links.lock().remove(host);
        self.asked.lock().retain(|(_, asked), _| asked != host);
        let worlds: Vec<Arc<SpreadWorld>> = self
            .worlds
            .lock()
            .values()
            .filter(|w| w.involves(host))
            .cloned()
            .collect();
        if !worlds.is_empty() {
            tracing::warn!(host, worlds = worlds.len(), "a host of MPI worlds {how}");
        }
        let reason = format!("Call failed: MPI world failed: host {host} {how}");
        for world in worlds {
            world.lost(self, host, &reason);
        }
    }
}
