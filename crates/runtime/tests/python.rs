//! Python functions in the runtime: the interpreter from `scripts/install-python`.

use faasm_runtime::{CallInput, CallLimits, PythonConfig, Runtime, RuntimeConfig};

fn runtime(cache: &tempfile::TempDir) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: cache.path().to_path_buf(),
        limits: CallLimits::default(),
        max_instances: 16,
        shared_files_dir: cache.path().join("files"),
        state: faasm_runtime::LocalTier::in_memory(),
        python: Some(PythonConfig::in_user_cache()),
    })
    .expect("runtime")
}

#[tokio::test]
async fn hello() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(&cache);
    let t = std::time::Instant::now();
    let module = rt
        .prepare_python("demo", "hello", b"import numpy as np\nfrom pyfaasm.core import get_input, set_output\ndef faasm_main():\n    print('hi', np.linalg.solve([[3,1],[1,2]],[9,8]))\n    set_output(get_input()[::-1])\n    return 3\n")
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("prepare {:?}", t.elapsed());
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let out = rt
            .run(&module, CallInput { input: "abc".into(), ..Default::default() })
            .await;
        eprintln!("call {:?} {:?}", t.elapsed(), out);
    }
}
