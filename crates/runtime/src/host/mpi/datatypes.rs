//! MPI datatypes and reduction operations: the handles `mpi.h` defines, their sizes on
//! wasm32, and the built-in operations applied element by element to little-endian bytes.

use wasmtime::{Result, bail};

/// What one element of a datatype is, for reductions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    Bool,
    /// Bytes without arithmetic (`MPI_BYTE`, `MPI_PACKED`, `MPI_LONG_DOUBLE`).
    Opaque,
    /// A value and an `int` index (`MPI_DOUBLE_INT` and friends) for `MAXLOC`/`MINLOC`; the
    /// index sits at byte `index_at` of an element.
    Pair {
        value: PairValue,
        index_at: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PairValue {
    I16,
    I32,
    F32,
    F64,
}

/// A datatype: `count` elements of `kind`, `size` bytes in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Datatype {
    pub kind: Kind,
    /// Bytes of one element of `kind`.
    pub element: usize,
    /// Elements of `kind` in one item of this type (derived contiguous types repeat).
    pub count: usize,
}

impl Datatype {
    const fn of(kind: Kind, element: usize) -> Self {
        Self {
            kind,
            element,
            count: 1,
        }
    }

    pub fn size(&self) -> usize {
        self.element * self.count
    }
}

/// The predefined datatype with handle `handle`, and its name.
pub(crate) fn builtin(handle: i32) -> Option<(Datatype, &'static str)> {
    use Kind::*;
    let pair = |value, size, index_at| Datatype::of(Pair { value, index_at }, size);
    Some(match handle {
        1 => (Datatype::of(I8, 1), "MPI_CHAR"),
        2 => (Datatype::of(I8, 1), "MPI_SIGNED_CHAR"),
        3 => (Datatype::of(U8, 1), "MPI_UNSIGNED_CHAR"),
        4 => (Datatype::of(Opaque, 1), "MPI_BYTE"),
        5 => (Datatype::of(I16, 2), "MPI_SHORT"),
        6 => (Datatype::of(U16, 2), "MPI_UNSIGNED_SHORT"),
        7 => (Datatype::of(I32, 4), "MPI_INT"),
        8 => (Datatype::of(U32, 4), "MPI_UNSIGNED"),
        9 => (Datatype::of(I32, 4), "MPI_LONG"),
        10 => (Datatype::of(U32, 4), "MPI_UNSIGNED_LONG"),
        11 => (Datatype::of(I64, 8), "MPI_LONG_LONG"),
        12 => (Datatype::of(U64, 8), "MPI_UNSIGNED_LONG_LONG"),
        13 => (Datatype::of(F32, 4), "MPI_FLOAT"),
        14 => (Datatype::of(F64, 8), "MPI_DOUBLE"),
        15 => (Datatype::of(Bool, 1), "MPI_C_BOOL"),
        16 => (Datatype::of(I8, 1), "MPI_INT8_T"),
        17 => (Datatype::of(I16, 2), "MPI_INT16_T"),
        18 => (Datatype::of(I32, 4), "MPI_INT32_T"),
        19 => (Datatype::of(I64, 8), "MPI_INT64_T"),
        20 => (Datatype::of(U8, 1), "MPI_UINT8_T"),
        21 => (Datatype::of(U16, 2), "MPI_UINT16_T"),
        22 => (Datatype::of(U32, 4), "MPI_UINT32_T"),
        23 => (Datatype::of(U64, 8), "MPI_UINT64_T"),
        24 => (pair(PairValue::F32, 8, 4), "MPI_FLOAT_INT"),
        25 => (pair(PairValue::F64, 16, 8), "MPI_DOUBLE_INT"),
        26 => (pair(PairValue::I32, 8, 4), "MPI_LONG_INT"),
        27 => (pair(PairValue::I32, 8, 4), "MPI_2INT"),
        28 => (pair(PairValue::I16, 8, 4), "MPI_SHORT_INT"),
        29 => (Datatype::of(I32, 4), "MPI_WCHAR"),
        30 => (Datatype::of(Opaque, 16), "MPI_LONG_DOUBLE"),
        31 => (Datatype::of(Opaque, 1), "MPI_PACKED"),
        _ => return None,
    })
}

/// Handles of the built-in operations (`mpi.h`).
pub(crate) const MAXLOC: i32 = 11;
pub(crate) const MINLOC: i32 = 12;
/// User operations get handles from here on.
pub(crate) const FIRST_USER_OP: i32 = 100;

pub(crate) fn op_name(op: i32) -> &'static str {
    match op {
        1 => "MPI_MAX",
        2 => "MPI_MIN",
        3 => "MPI_SUM",
        4 => "MPI_PROD",
        5 => "MPI_LAND",
        6 => "MPI_BAND",
        7 => "MPI_LOR",
        8 => "MPI_BOR",
        9 => "MPI_LXOR",
        10 => "MPI_BXOR",
        MAXLOC => "MPI_MAXLOC",
        MINLOC => "MPI_MINLOC",
        _ => "an unknown operation",
    }
}

/// Numbers as little-endian bytes in guest memory.
trait Element: Copy + PartialOrd {
    const SIZE: usize;
    fn load(bytes: &[u8]) -> Self;
    fn store(self, bytes: &mut [u8]);
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn load(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes[..Self::SIZE].try_into().expect("sized"))
            }
            fn store(self, bytes: &mut [u8]) {
                bytes[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
element!(i8, u8, i16, u16, i32, u32, i64, u64, f32, f64);

/// `inout[i] = input[i] ∘ inout[i]` for each element.
fn fold<T: Element>(input: &[u8], inout: &mut [u8], f: impl Fn(T, T) -> T) {
    for (a, b) in input
        .chunks_exact(T::SIZE)
        .zip(inout.chunks_exact_mut(T::SIZE))
    {
        f(T::load(a), T::load(b)).store(b);
    }
}

macro_rules! integer_op {
    ($t:ty, $op:expr, $input:expr, $inout:expr) => {
        match $op {
            1 => fold::<$t>($input, $inout, |a, b| if a > b { a } else { b }),
            2 => fold::<$t>($input, $inout, |a, b| if a < b { a } else { b }),
            3 => fold::<$t>($input, $inout, |a, b| a.wrapping_add(b)),
            4 => fold::<$t>($input, $inout, |a, b| a.wrapping_mul(b)),
            5 => fold::<$t>($input, $inout, |a, b| (a != 0 && b != 0) as $t),
            6 => fold::<$t>($input, $inout, |a, b| a & b),
            7 => fold::<$t>($input, $inout, |a, b| (a != 0 || b != 0) as $t),
            8 => fold::<$t>($input, $inout, |a, b| a | b),
            9 => fold::<$t>($input, $inout, |a, b| ((a != 0) != (b != 0)) as $t),
            10 => fold::<$t>($input, $inout, |a, b| a ^ b),
            _ => return Err(()),
        }
    };
}

macro_rules! float_op {
    ($t:ty, $op:expr, $input:expr, $inout:expr) => {
        match $op {
            1 => fold::<$t>($input, $inout, |a, b| if a > b { a } else { b }),
            2 => fold::<$t>($input, $inout, |a, b| if a < b { a } else { b }),
            3 => fold::<$t>($input, $inout, |a, b| a + b),
            4 => fold::<$t>($input, $inout, |a, b| a * b),
            5 => fold::<$t>($input, $inout, |a, b| (a != 0.0 && b != 0.0) as u8 as $t),
            7 => fold::<$t>($input, $inout, |a, b| (a != 0.0 || b != 0.0) as u8 as $t),
            9 => fold::<$t>($input, $inout, |a, b| {
                ((a != 0.0) != (b != 0.0)) as u8 as $t
            }),
            _ => return Err(()),
        }
    };
}

/// `MAXLOC`/`MINLOC` on (value, index) pairs: the better value, and on a tie the lower index.
fn fold_pairs<T: Element>(input: &[u8], inout: &mut [u8], size: usize, index_at: usize, max: bool) {
    for (a, b) in input.chunks_exact(size).zip(inout.chunks_exact_mut(size)) {
        let (va, vb) = (T::load(a), T::load(b));
        let (ia, ib) = (i32::load(&a[index_at..]), i32::load(&b[index_at..]));
        let a_wins = if max { va > vb } else { va < vb };
        let take_a = a_wins || (va == vb && ia < ib);
        if take_a {
            b.copy_from_slice(a);
        }
    }
}

/// Applies built-in operation `op` element-wise: `inout = input ∘ inout`. Both buffers hold
/// whole elements of `datatype`.
pub(crate) fn reduce(op: i32, datatype: &Datatype, input: &[u8], inout: &mut [u8]) -> Result<()> {
    let applied: Result<(), ()> = (|| {
        match datatype.kind {
            Kind::I8 => integer_op!(i8, op, input, inout),
            Kind::U8 | Kind::Bool => integer_op!(u8, op, input, inout),
            Kind::I16 => integer_op!(i16, op, input, inout),
            Kind::U16 => integer_op!(u16, op, input, inout),
            Kind::I32 => integer_op!(i32, op, input, inout),
            Kind::U32 => integer_op!(u32, op, input, inout),
            Kind::I64 => integer_op!(i64, op, input, inout),
            Kind::U64 => integer_op!(u64, op, input, inout),
            Kind::F32 => float_op!(f32, op, input, inout),
            Kind::F64 => float_op!(f64, op, input, inout),
            Kind::Pair { value, index_at } if op == MAXLOC || op == MINLOC => {
                let (size, max) = (datatype.element, op == MAXLOC);
                match value {
                    PairValue::I16 => fold_pairs::<i16>(input, inout, size, index_at, max),
                    PairValue::I32 => fold_pairs::<i32>(input, inout, size, index_at, max),
                    PairValue::F32 => fold_pairs::<f32>(input, inout, size, index_at, max),
                    PairValue::F64 => fold_pairs::<f64>(input, inout, size, index_at, max),
                }
            }
            Kind::Pair { .. } | Kind::Opaque => return Err(()),
        }
        Ok(())
    })();
    if applied.is_err() {
        bail!(
            "{} is not defined for this datatype ({:?})",
            op_name(op),
            datatype.kind
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn sums_and_maxes_ints() {
        let int = builtin(7).unwrap().0;
        let mut inout = ints(&[1, 5, -3]);
        reduce(3, &int, &ints(&[2, 2, 2]), &mut inout).unwrap();
        assert_eq!(inout, ints(&[3, 7, -1]));
        reduce(1, &int, &ints(&[4, 0, 9]), &mut inout).unwrap();
        assert_eq!(inout, ints(&[4, 7, 9]));
    }

    #[test]
    fn maxloc_prefers_the_lower_index_on_ties() {
        let two_int = builtin(27).unwrap().0;
        let mut inout = ints(&[5, 3, 7, 1]);
        reduce(MAXLOC, &two_int, &ints(&[5, 2, 6, 0]), &mut inout).unwrap();
        assert_eq!(inout, ints(&[5, 2, 7, 1]));
        reduce(MINLOC, &two_int, &ints(&[4, 9, 7, 0]), &mut inout).unwrap();
        assert_eq!(inout, ints(&[4, 9, 7, 0]));
    }

    #[test]
    fn refuses_bitwise_ops_on_floats() {
        let double = builtin(14).unwrap().0;
        let mut inout = vec![0; 8];
        let err = reduce(6, &double, &[0; 8], &mut inout).unwrap_err();
        assert!(err.to_string().contains("MPI_BAND"), "{err}");
    }
}
