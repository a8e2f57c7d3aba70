//! End-to-end tests: the real `faasm` binary, real HTTP, functions compiled by the real clang
//! toolchain through `faasm cc`.

mod auth;
mod chaining;
mod cli;
mod cluster;
mod cluster_store;
mod compat_c;
mod dashboard;
mod deploy;
mod faasmctl;
mod files;
mod harness;
mod invoke;
mod limits;
mod mpi;
mod observability;
mod persistence;
mod properties;
mod python;
mod redis;
mod sleep;
mod soundness;
mod state;
mod upload;
mod zygote;
