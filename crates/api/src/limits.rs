//! Per-user limits (SPEC §12): the defaults of `faasm serve` and the overrides the admin API
//! sets, in one shape. `None` means "no limit" in the defaults and "the default" in an override.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLimits {
    /// Calls of the user accepted and not finished, on one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_calls: Option<u32>,
    /// Calls the user may start per minute, on one host (a bucket of this many that refills
    /// evenly over the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_per_minute: Option<u32>,
    /// The largest `mpi_world_size` of the user's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mpi_world: Option<u32>,
    /// Bytes the user may store through the upload server: functions, Python sources, state
    /// values and shared files under `<user>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
    /// Bytes (output, stdout, error) of the user's finished calls this host retains for
    /// polls; past it, the user's oldest results go first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_bytes: Option<u64>,
}

impl UserLimits {
    /// These overrides over `defaults`, field by field.
    pub fn over(self, defaults: UserLimits) -> UserLimits {
        UserLimits {
            concurrent_calls: self.concurrent_calls.or(defaults.concurrent_calls),
            calls_per_minute: self.calls_per_minute.or(defaults.calls_per_minute),
            max_mpi_world: self.max_mpi_world.or(defaults.max_mpi_world),
            stored_bytes: self.stored_bytes.or(defaults.stored_bytes),
            result_bytes: self.result_bytes.or(defaults.result_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_field_by_field() {
        let defaults = UserLimits {
            concurrent_calls: Some(10),
            calls_per_minute: Some(600),
            ..UserLimits::default()
        };
        let overrides = UserLimits {
            calls_per_minute: Some(5),
            stored_bytes: Some(1 << 20),
            ..UserLimits::default()
        };
        let effective = overrides.over(defaults);
        assert_eq!(effective.concurrent_calls, Some(10));
        assert_eq!(effective.calls_per_minute, Some(5));
        assert_eq!(effective.max_mpi_world, None);
        assert_eq!(effective.stored_bytes, Some(1 << 20));
    }

    #[test]
    fn json_names_the_fields_and_refuses_unknown_ones() {
        let limits: UserLimits = serde_json::from_str(r#"{"calls_per_minute": 3}"#).unwrap();
        assert_eq!(limits.calls_per_minute, Some(3));
        assert!(serde_json::from_str::<UserLimits>(r#"{"calls": 3}"#).is_err());
    }
}
