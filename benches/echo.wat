;; The echo floor of the benchmarks: input copied to output, no libc. Shared by
;; `faasm bench --workload echo`, the benches and the runtime's tests (crates/runtime/tests/guests).
;; Reads the whole input, growing memory to fit it, and sets it as the output.
(module
  (import "env" "__faasm_read_input" (func $read_input (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $size i32) (local $pages i32)
    (local.set $size (call $read_input (i32.const 0) (i32.const 0)))
    ;; pages needed for [1024, 1024 + size)
    (local.set $pages
      (i32.shr_u (i32.add (local.get $size) (i32.const 66559)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then unreachable))))
    (drop (call $read_input (i32.const 1024) (local.get $size)))
    (call $write_output (i32.const 1024) (local.get $size))))
