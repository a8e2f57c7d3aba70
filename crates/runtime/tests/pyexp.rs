use faasm_runtime::{CallInput, CallLimits, PythonConfig, Runtime, RuntimeConfig};

#[tokio::test]
async fn exp() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: cache.path().to_path_buf(),
        limits: CallLimits::default(),
        max_instances: 16,
        shared_files_dir: cache.path().join("files"),
        state: faasm_runtime::LocalTier::in_memory(),
        python: Some(PythonConfig::in_user_cache()),
    }).unwrap();
    let solve_warm = format!("{}\nfaasm_main_input = None\nnp.linalg.solve(A, np.ones(3))\n", include_str!("../../../examples/python/solve.py"));
    for (name, src) in [("noop", include_str!("../../../examples/python/noop.py").to_string()), ("solve", include_str!("../../../examples/python/solve.py").to_string()), ("solvewarm", solve_warm)] {
        let module = rt.prepare_python("demo", name, src.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut times = vec![];
        for _ in 0..200 {
            let t = std::time::Instant::now();
            let out = rt.run(&module, CallInput::default()).await;
            times.push(t.elapsed().as_micros());
            assert_eq!(out.error, None, "{out:?}");
        }
        times.sort();
        eprintln!("EXP {name} p50 {} us p10 {} p90 {}", times[100], times[20], times[180]);
    }
}
