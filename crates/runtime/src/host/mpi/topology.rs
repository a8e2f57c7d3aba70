//! Cartesian topologies of any number of dimensions: `MPI_Cart_*` and `MPI_Dims_create`.
//! Ranks are never reordered: rank `r` of a Cartesian communicator is world rank `r`, laid
//! out in row-major order (the last dimension varies fastest), as MPI specifies.

use wasmtime::{Caller, Result, bail, format_err};

use super::MpiView;
use super::{COMM_NULL, PROC_NULL, check, mpi, read_i32s, write, write_i32};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cart {
    dims: Vec<i32>,
    periods: Vec<bool>,
}

impl Cart {
    fn size(&self) -> i32 {
        self.dims.iter().product()
    }

    fn coords(&self, mut rank: i32) -> Vec<i32> {
        let mut coords = vec![0; self.dims.len()];
        for (coord, dim) in coords.iter_mut().zip(&self.dims).rev() {
            *coord = rank % dim;
            rank /= dim;
        }
        coords
    }

    /// The rank at `coords`, wrapping periodic dimensions; `None` off a non-periodic edge.
    fn rank(&self, coords: &[i32]) -> Option<i32> {
        let mut rank = 0;
        for ((&coord, &dim), &periodic) in coords.iter().zip(&self.dims).zip(&self.periods) {
            let coord = if periodic {
                coord.rem_euclid(dim)
            } else if (0..dim).contains(&coord) {
                coord
            } else {
                return None;
            };
            rank = rank * dim + coord;
        }
        Some(rank)
    }
}

/// `nnodes` split over `ndims` dimensions as evenly as possible, non-increasing, keeping the
/// non-zero entries of `dims` as given.
pub(super) fn dims_create(nnodes: i32, dims: &mut [i32]) -> Result<()> {
    let fixed: i32 = dims.iter().filter(|&&d| d > 0).product();
    if dims.iter().any(|&d| d < 0) || fixed == 0 || nnodes % fixed != 0 {
        bail!("cannot split {nnodes} ranks over dimensions {dims:?}");
    }
    let free = dims.iter().filter(|&&d| d == 0).count();
    let mut rest = nnodes / fixed;
    let mut factors = Vec::new();
    let mut p = 2;
    while rest > 1 {
        while rest % p == 0 {
            factors.push(p);
            rest /= p;
        }
        p += 1;
    }
    let mut split = vec![1; free];
    if free == 0 {
        return if rest == 1 && factors.is_empty() {
            Ok(())
        } else {
            bail!("cannot split {nnodes} ranks over dimensions {dims:?}")
        };
    }
    for factor in factors.into_iter().rev() {
        let smallest = split.iter_mut().min().expect("free > 0");
        *smallest *= factor;
    }
    split.sort_unstable_by(|a, b| b.cmp(a));
    let mut split = split.into_iter();
    for dim in dims.iter_mut().filter(|d| **d == 0) {
        *dim = split.next().expect("one per free dimension");
    }
    Ok(())
}

fn cart<T: MpiView>(caller: &mut Caller<'_, T>, comm: i32) -> Result<Cart> {
    let (comm, _) = mpi(caller).comm(comm)?;
    comm.cart
        .clone()
        .ok_or_else(|| format_err!("the communicator has no Cartesian topology"))
}

fn ndims(ndims: i32) -> Result<usize> {
    usize::try_from(ndims)
        .ok()
        .filter(|&n| n > 0 && n <= 64)
        .ok_or_else(|| format_err!("invalid number of dimensions {ndims}"))
}

pub(super) async fn dims_create_call<T: MpiView>(
    caller: &mut Caller<'_, T>,
    nnodes: i32,
    n: i32,
    dims: u32,
) -> Result<i32> {
    let mut values = read_i32s(caller, dims, ndims(n)?)?;
    dims_create(nnodes, &mut values)?;
    write_all(caller, dims, n, &values)?;
    Ok(0)
}

/// `MPI_Cart_create` (collective; `reorder` is ignored). Ranks outside the grid get
/// `MPI_COMM_NULL`.
pub(super) async fn cart_create<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: i32,
    n: i32,
    dims: u32,
    periods: u32,
    _reorder: i32,
    comm_cart: u32,
) -> Result<i32> {
    let n = ndims(n)?;
    let dims = read_i32s(caller, dims, n)?;
    let periods = read_i32s(caller, periods, n)?;
    check(caller, comm_cart, 4)?;
    let info = mpi(caller).comm_info(comm)?;
    if dims.iter().any(|&d| d <= 0) {
        bail!("invalid dimensions {dims:?}");
    }
    let cart = Cart {
        dims,
        periods: periods.into_iter().map(|p| p != 0).collect(),
    };
    let size = cart
        .dims
        .iter()
        .try_fold(1i32, |acc, &d| acc.checked_mul(d))
        .filter(|&s| s <= info.size)
        .ok_or_else(|| {
            format_err!(
                "a grid of {:?} needs more than the communicator's {} ranks",
                cart.dims,
                info.size
            )
        })?;
    let handle = mpi(caller).new_comm(size, Some(cart));
    let handle = if info.rank < size {
        handle
    } else {
        mpi(caller).comms.remove(&handle);
        COMM_NULL
    };
    write_i32(caller, comm_cart, handle)?;
    Ok(0)
}

pub(super) async fn cart_rank<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: i32,
    coords: u32,
    rank: u32,
) -> Result<i32> {
    let cart = cart(caller, comm)?;
    let coords = read_i32s(caller, coords, cart.dims.len())?;
    let found = cart.rank(&coords).ok_or_else(|| {
        format_err!(
            "coordinates {coords:?} lie outside the grid {:?}",
            cart.dims
        )
    })?;
    write_i32(caller, rank, found)?;
    Ok(0)
}

pub(super) async fn cart_coords<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: i32,
    rank: i32,
    maxdims: i32,
    coords: u32,
) -> Result<i32> {
    let cart = cart(caller, comm)?;
    if !(0..cart.size()).contains(&rank) {
        bail!("rank {rank} is not in the grid {:?}", cart.dims);
    }
    write_all(caller, coords, maxdims, &cart.coords(rank))?;
    Ok(0)
}

pub(super) async fn cart_get<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: i32,
    maxdims: i32,
    dims: u32,
    periods: u32,
    coords: u32,
) -> Result<i32> {
    let cart = cart(caller, comm)?;
    let rank = mpi(caller).comm_info(comm)?.rank;
    let periods_values: Vec<i32> = cart.periods.iter().map(|&p| i32::from(p)).collect();
    write_all(caller, dims, maxdims, &cart.dims)?;
    write_all(caller, periods, maxdims, &periods_values)?;
    write_all(caller, coords, maxdims, &cart.coords(rank))?;
    Ok(0)
}

pub(super) async fn cartdim_get<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: i32,
    ndims: u32,
) -> Result<i32> {
    let cart = cart(caller, comm)?;
    write_i32(caller, ndims, cart.dims.len() as i32)?;
    Ok(0)
}

/// `MPI_Cart_shift`: the neighbours `disp` steps down and up `direction`, or
/// `MPI_PROC_NULL` past a non-periodic edge.
pub(super) async fn cart_shift<T: MpiView>(
    caller: &mut Caller<'_, T>,
    comm: i32,
    direction: i32,
    disp: i32,
    source: u32,
    dest: u32,
) -> Result<i32> {
    let cart = cart(caller, comm)?;
    let rank = mpi(caller).comm_info(comm)?.rank;
    let axis = usize::try_from(direction)
        .ok()
        .filter(|&d| d < cart.dims.len())
        .ok_or_else(|| format_err!("invalid direction {direction}"))?;
    let neighbour = |step: i32| {
        let mut coords = cart.coords(rank);
        coords[axis] += step;
        cart.rank(&coords).unwrap_or(PROC_NULL)
    };
    write_i32(caller, source, neighbour(-disp))?;
    write_i32(caller, dest, neighbour(disp))?;
    Ok(0)
}

/// Writes `values` to an array of `maxdims` ints, which must hold them.
fn write_all<T: MpiView>(
    caller: &mut Caller<'_, T>,
    ptr: u32,
    maxdims: i32,
    values: &[i32],
) -> Result<()> {
    if maxdims < values.len() as i32 {
        bail!(
            "maxdims {maxdims} is less than the grid's {} dimensions",
            values.len()
        );
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write(caller, ptr, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_are_balanced_and_non_increasing() {
        let mut dims = [0, 0];
        dims_create(12, &mut dims).unwrap();
        assert_eq!(dims, [4, 3]);
        let mut dims = [0, 0, 0];
        dims_create(8, &mut dims).unwrap();
        assert_eq!(dims, [2, 2, 2]);
        let mut dims = [0, 2];
        dims_create(10, &mut dims).unwrap();
        assert_eq!(dims, [5, 2]);
        assert!(dims_create(7, &mut [2, 0]).is_err());
    }

    #[test]
    fn shifts_wrap_only_periodic_dimensions() {
        let cart = Cart {
            dims: vec![2, 3],
            periods: vec![true, false],
        };
        assert_eq!(cart.coords(5), vec![1, 2]);
        assert_eq!(cart.rank(&[2, 1]), Some(1));
        assert_eq!(cart.rank(&[0, 3]), None);
    }
}
