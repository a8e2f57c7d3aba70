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
    for (name, src) in [
        ("noop", "def faasm_main():\n    pass\n"),
        (
            "prof",
            "import time, sys\nimport numpy as np\nM=set(sys.modules)\ndef faasm_main():\n    t=time.perf_counter()\n    np.random.seed()\n    t1=time.perf_counter()\n    x=np.linalg.solve([[3,1],[1,2]],[9,8])\n    t2=time.perf_counter()\n    s=str(x)\n    t3=time.perf_counter()\n    np.random.seed()\n    t4=time.perf_counter()\n    x=np.linalg.solve([[3,1],[1,2]],[9,8])\n    t5=time.perf_counter()\n    print('seed %.3f solve %.3f str %.3f ms seed2 %.3f solve2 %.3f' % ((t1-t)*1e3,(t2-t1)*1e3,(t3-t2)*1e3,(t4-t3)*1e3,(t5-t4)*1e3), sorted(set(sys.modules)-M)[:30])\n",
        ),
        (
            "np",
            "import numpy as np\nfrom pyfaasm.core import get_input, set_output\ndef faasm_main():\n    print('hi', np.linalg.solve([[3,1],[1,2]],[9,8]))\n    set_output(get_input()[::-1])\n    return 3\n",
        ),
    ] {
        let t = std::time::Instant::now();
        let module = rt
            .prepare_python("demo", name, src.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("prepare {:?}", t.elapsed());
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let out = rt
                .run(
                    &module,
                    CallInput {
                        input: "abc".into(),
                        ..Default::default()
                    },
                )
                .await;
            eprintln!("call {:?} {:?}", t.elapsed(), out);
        }
    }
}
