;; The echo floor of the benchmarks: input copied to output, no libc. Shared by
;; `faasm bench --workload echo`, `cargo bench --bench functions` and the scheduler's bench.
(module
  (import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 0)))
    (drop (call $read (i32.const 1024) (local.get $n)))
    (call $write (i32.const 1024) (local.get $n))))
