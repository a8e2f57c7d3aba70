//! The dashboard (`GET /ui` on the invoke port) in a real headless browser (Debian's
//! `chromium`): the page loads without errors and shows the functions uploaded and the calls
//! made by the test.

use std::process::Command;

use crate::harness::{Server, compile};

/// The DOM of `url` after its scripts ran (5 s of the browser's virtual time), and the
/// browser's log (console messages included).
fn dump_dom(url: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .expect("run chromium (scripts/setup installs it)");
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `<tr>` of the call with this id.
fn call_row<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr class=\"call\" data-id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no row for call {id} in {dom}"));
    let end = start + dom[start..].find("</tr>").unwrap();
    &dom[start..end]
}

fn assert_clean(dom: &str, log: &str) {
    assert!(dom.contains("data-ready=\"true\""), "never loaded: {dom}");
    assert!(
        dom.contains("<pre id=\"errors\"></pre>"),
        "errors shown: {dom}"
    );
    assert!(!log.contains("Uncaught"), "{log}");
}

#[test]
fn dashboard_shows_functions_and_calls_in_a_browser() {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    let py = server.put("/p/demo/hello", "def faasm_main():\n    return 0\n");
    assert_eq!(py.status, 200, "{}", py.text());
    let ok = server.call("demo", "echo", "shown in the browser");
    let ok_id = ok.header("x-faasm-call-id").unwrap();
    let failed = server.call("demo", "fail", "");
    let failed_id = failed.header("x-faasm-call-id").unwrap();

    let (dom, log) = dump_dom(&format!("{}/ui", server.invoke));
    assert_clean(&dom, &log);
    for (name, kind) in [("echo", "wasm"), ("fail", "wasm"), ("hello", "python")] {
        let row = format!(
            "<td>demo</td><td><a title=\"show this function's calls\">{name}</a></td><td>{kind}</td>"
        );
        assert!(dom.contains(&row), "no {name} in {dom}");
    }
    // This host, as GET_AVAILABLE_HOSTS lists it.
    assert!(dom.contains("<tr class=\"host\"><td>"), "no host in {dom}");
    let row = call_row(&dom, &ok_id);
    assert!(
        row.contains("demo/echo") && row.contains(">SUCCESS<"),
        "{row}"
    );
    assert!(row.contains("shown in the browser"), "{row}");
    let row = call_row(&dom, &failed_id);
    assert!(
        row.contains("demo/fail") && row.contains(">FAILED<"),
        "{row}"
    );
    assert!(row.contains("Call failed (return value=3)"), "{row}");
    assert!(dom.contains("<svg id=\"chart-throughput\""));

    // Filtered by function: only that function's calls.
    let (dom, log) = dump_dom(&format!("{}/ui?function=fail", server.invoke));
    assert_clean(&dom, &log);
    call_row(&dom, &failed_id);
    assert!(!dom.contains(&format!("data-id=\"{ok_id}\"")), "{dom}");
}

#[test]
fn front_door_sends_browsers_to_the_dashboard() {
    let server = Server::start(&[]);
    let url = format!("{}/", server.invoke);
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = client
        .get(&url)
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .unwrap();
    assert_eq!(reply.status(), 303);
    assert_eq!(reply.headers()["location"], "/ui");
    let reply = client.get(&url).send().unwrap();
    assert_eq!(reply.status(), 405, "calls are POSTed");
    let page = server.get_invoke("/ui");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    // Self-contained: no scripts, styles, images or fonts from elsewhere.
    let text = page.text();
    for outside in ["<script src", "<link", "<img", "url(", "@import"] {
        assert!(!text.contains(outside), "{outside}");
    }
}

#[test]
fn calls_preview_output_and_stdout() {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.call("demo", "echo", "a long output to cut");
    let listed = server.get_invoke("/calls?preview=6").json();
    assert_eq!(listed["calls"][0]["output_preview"], "a long");
    assert_eq!(listed["calls"][0]["stdout_preview"], "");
    let listed = server.get_invoke("/calls").json();
    assert!(listed["calls"][0].get("output_preview").is_none());
    let functions = server.get_invoke("/ui/functions").json();
    assert_eq!(
        functions,
        serde_json::json!({"functions": {"demo": ["echo"]}, "python": {}})
    );
}
