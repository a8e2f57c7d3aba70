//! Who takes part in one step of a collective. On one host that is the whole communicator;
//! when its ranks span hosts ([`Hosts`]), collectives run in two levels: among the ranks of
//! each host ([`Hosts::local`]) and among one leader per host ([`Hosts::leaders`]), so only
//! the leaders' step crosses hosts.

use std::ops::Range;

use super::CommInfo;
use crate::mpi::MpiWorld;

/// Ranks of a communicator taking part in one step of a collective. Algorithms number the
/// members `0..size` in the order of their communicator ranks and address them by number.
#[derive(Clone, Copy)]
pub(super) struct Team<'a> {
    pub comm: CommInfo,
    members: Members<'a>,
    /// This rank's number in the team.
    pub me: i32,
    pub size: i32,
}

#[derive(Clone, Copy)]
enum Members<'a> {
    /// Consecutive ranks from this one on.
    From(i32),
    /// These ranks, in order.
    Listed(&'a [i32]),
}

impl<'a> Team<'a> {
    /// Every rank of `comm`.
    pub fn whole(comm: CommInfo) -> Self {
        Self::consecutive(comm, 0..comm.size)
    }

    /// The ranks in `ranks`, which hold this one.
    fn consecutive(comm: CommInfo, ranks: Range<i32>) -> Self {
        Self {
            comm,
            members: Members::From(ranks.start),
            me: comm.rank - ranks.start,
            size: ranks.len() as i32,
        }
    }

    /// The ranks listed, in that order, if this rank is one of them.
    pub fn listed(comm: CommInfo, ranks: &'a [i32]) -> Option<Self> {
        let me = ranks.iter().position(|&r| r == comm.rank)?;
        Some(Self {
            comm,
            members: Members::Listed(ranks),
            me: me as i32,
            size: ranks.len() as i32,
        })
    }

    /// The communicator rank of member `member`.
    pub fn rank(&self, member: i32) -> i32 {
        match self.members {
            Members::From(first) => first + member,
            Members::Listed(ranks) => ranks[member as usize],
        }
    }
}

/// Where a communicator's ranks run, when they span more than one host.
pub(super) struct Hosts {
    /// Each host's ranks of the communicator, in rank order.
    ranges: Vec<Range<i32>>,
    /// This rank's host.
    mine: usize,
}

impl Hosts {
    /// The hosts of `comm`'s ranks, or `None` when they all run on one host. Communicators
    /// keep the world's rank numbers (duplicates and Cartesian ones never reorder), so the
    /// world's layout holds for every communicator, cut to its size.
    pub fn of(world: &dyn MpiWorld, comm: CommInfo) -> Option<Self> {
        Self::cut(world.hosts(), comm)
    }

    /// `world_hosts` (the world's ranks host by host) cut to `comm`.
    fn cut(world_hosts: &[Range<i32>], comm: CommInfo) -> Option<Self> {
        if world_hosts.len() < 2 {
            return None;
        }
        let ranges: Vec<Range<i32>> = world_hosts
            .iter()
            .filter(|r| r.start < comm.size)
            .map(|r| r.start..r.end.min(comm.size))
            .collect();
        let mine = ranges.iter().position(|r| r.contains(&comm.rank))?;
        (ranges.len() > 1).then_some(Self { ranges, mine })
    }

    /// Each host's ranks of the communicator, in rank order.
    pub fn ranges(&self) -> &[Range<i32>] {
        &self.ranges
    }

    /// The host of rank `rank`.
    pub fn host_of(&self, rank: i32) -> usize {
        let host = self.ranges.iter().position(|r| r.contains(&rank));
        host.expect("a rank of the communicator")
    }

    /// Each host's leader: `root` on its own host, the lowest rank on the others.
    pub fn leaders(&self, root: i32) -> Vec<i32> {
        self.ranges
            .iter()
            .map(|r| if r.contains(&root) { root } else { r.start })
            .collect()
    }

    /// The ranks on this rank's host, and the member number of their leader among `leaders`.
    pub fn local(&self, comm: CommInfo, leaders: &[i32]) -> (Team<'static>, i32) {
        let ranks = self.ranges[self.mine].clone();
        let leader = leaders[self.mine] - ranks.start;
        (Team::consecutive(comm, ranks), leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comm(rank: i32, size: i32) -> CommInfo {
        CommInfo {
            context: 2,
            rank,
            size,
        }
    }

    #[test]
    fn one_host_has_no_layout() {
        let one_host = std::slice::from_ref(&(0..8));
        assert!(Hosts::cut(one_host, comm(3, 8)).is_none());
        // A communicator of the first host's ranks only (a smaller Cartesian grid).
        assert!(Hosts::cut(&[0..3, 3..8], comm(1, 3)).is_none());
    }

    #[test]
    fn leaders_are_the_root_on_its_host_and_the_lowest_elsewhere() {
        let world = [0..3, 3..8];
        let hosts = Hosts::cut(&world, comm(4, 8)).unwrap();
        assert_eq!(hosts.host_of(2), 0);
        assert_eq!(hosts.host_of(7), 1);
        assert_eq!(hosts.leaders(0), [0, 3]);
        assert_eq!(hosts.leaders(6), [0, 6]);
        assert_eq!(hosts.leaders(1), [1, 3]);
        // Rank 4's host, numbered from rank 3, led by rank 6 (member 3).
        let leaders = hosts.leaders(6);
        let (local, leader) = hosts.local(comm(4, 8), &leaders);
        assert_eq!((local.me, local.size, leader), (1, 5, 3));
        assert_eq!(local.rank(leader), 6);
        let team = Team::listed(comm(6, 8), &leaders).unwrap();
        assert_eq!((team.me, team.size, team.rank(0)), (1, 2, 0));
        assert!(Team::listed(comm(4, 8), &leaders).is_none());
        // Cut to a communicator of 6 ranks: the second host holds 3..6.
        let cut = Hosts::cut(&world, comm(5, 6)).unwrap();
        let (local, _) = cut.local(comm(5, 6), &cut.leaders(0));
        assert_eq!((local.me, local.size), (2, 3));
    }
}
