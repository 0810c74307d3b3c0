//! Every input error names the file, the line and the reason, exits 2, and writes nothing.

use crate::support::{gen_config, run, s, snapshot, write};

/// Runs gen-config on `content` saved as `name` and returns the error line; checks exit code 2
/// and that the output directory was not touched.
fn error_for(name: &str, content: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(name);
    write(&input, content);
    let out_dir = dir.path().join("out");
    let out = run(gen_config()
        .current_dir(dir.path())
        .args(["--agents", name, "--out-dir", s(&out_dir)])
        .args(extra));
    assert_eq!(
        out.code, 2,
        "expected exit 2 for {name}:\n{content}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(
        !out_dir.exists(),
        "an error must write nothing, but {} exists",
        out_dir.display()
    );
    let msg = out.stderr.trim_end().to_owned();
    msg.strip_prefix("vpsmon-gen-config: ")
        .unwrap_or_else(|| panic!("unexpected stderr: {msg}"))
        .to_owned()
}

#[test]
fn txt_errors_name_file_line_and_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "# fleet\nweb1 10.0.0.1:9100 extra\n",
            "agents.txt:2: malformed line \"web1 10.0.0.1:9100 extra\": expected NAME HOST:PORT",
        ),
        (
            "web1\n",
            "agents.txt:1: malformed line \"web1\": expected NAME HOST:PORT",
        ),
        (
            "web1 10.0.0.1:9100\n\nweb2 10.0.0.2:99999\n",
            "agents.txt:3: bad port \"99999\" in address \"10.0.0.2:99999\": expected a number from 1 to 65535",
        ),
        (
            "web1 10.0.0.1:http\n",
            "agents.txt:1: bad port \"http\" in address \"10.0.0.1:http\": expected a number from 1 to 65535",
        ),
        (
            "web1 10.0.0.1\n",
            "agents.txt:1: address \"10.0.0.1\" has no port: expected HOST:PORT",
        ),
        (
            "web1 2001:db8::1:9100\n",
            "agents.txt:1: address \"2001:db8::1:9100\": write an IPv6 address in brackets, like [2001:db8::1]:9100",
        ),
        (
            "web1 10.0.0.300:9100\n",
            "agents.txt:1: address \"10.0.0.300:9100\": \"10.0.0.300\" is not a valid IPv4 address",
        ),
        (
            "web1 10.0.0.1:9100\nweb2 10.0.0.2:9100\nweb1 10.0.0.3:9100\n",
            "agents.txt:3: duplicate agent name \"web1\" (first defined on line 1)",
        ),
        (
            "web1 [2001:db8::1]:9100\n# same address, other spelling\nweb2 [2001:DB8:0::1]:9100\n",
            "agents.txt:3: duplicate address [2001:db8::1]:9100: agent \"web2\" has the same address as \"web1\" (line 1)",
        ),
        (
            "web1 Host.Example.com:9100\nweb2 host.example.com:9100\n",
            "agents.txt:2: duplicate address host.example.com:9100: agent \"web2\" has the same address as \"web1\" (line 1)",
        ),
        (
            "web/1 10.0.0.1:9100\n",
            "agents.txt:1: invalid agent name \"web/1\": use letters, digits, '.', '_' and '-', starting with a letter or digit",
        ),
        (
            "# nothing here yet\n\n",
            "agents.txt: no agents: the list is empty",
        ),
        ("", "agents.txt: no agents: the list is empty"),
    ];
    for (content, want) in cases {
        assert_eq!(
            &error_for("agents.txt", content, &[]),
            want,
            "input:\n{content}"
        );
    }
}

#[test]
fn yaml_errors_name_file_line_and_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "agents:\n  - name: a\n    address: 10.0.0.1:9100\n    bogus: 1\n",
            "agents.yml:4: unknown field `bogus`, expected one of name, address, labels, scheme, bearer_token_file, tls, cf_access, action_key_file, action_url",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  tls:\n    ca: x\n",
            "agents.yml:4: unknown field `ca`, expected one of ca_file, server_name, insecure_skip_verify",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  cf_access:\n    client_id: x\n",
            "agents.yml:4: unknown field `client_id`, expected one of client_id_file, client_secret_file",
        ),
        (
            "agent:\n  - name: a\n",
            "agents.yml:1: unknown field `agent`, expected one of agents, rules",
        ),
        (
            "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  cpu_treshold: 70\n",
            "agents.yml:5: unknown field `cpu_treshold`, expected one of agent_down_for, cpu_threshold, cpu_for, memory_threshold, memory_for, disk_threshold, disk_for, load_threshold, load_for, collector_failed_for, cutoff_threshold, cutoff_min_agents, host_pack",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  scheme: ftp\n",
            "agents.yml:3: unknown variant `ftp`, expected one of http, https",
        ),
        ("- name: a\n", "agents.yml:1: missing field `address`"),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  labels:\n    env: prod\n    1bad: x\n",
            "agents.yml:5: invalid label name \"1bad\" for agent \"a\": a label name must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  labels:\n    __scheme__: https\n",
            "agents.yml:4: invalid label name \"__scheme__\" for agent \"a\": names starting with \"__\" are reserved by Prometheus",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  labels:\n    agent: other\n",
            "agents.yml:4: invalid label name \"agent\" for agent \"a\": the agent label is set from the agent's name",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n- name: b\n  address: '[::1]:99999'\n",
            "agents.yml:4: bad port \"99999\" in address \"[::1]:99999\": expected a number from 1 to 65535",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n- name: a\n  address: 10.0.0.2:9100\n",
            "agents.yml:3: duplicate agent name \"a\" (first defined on line 1)",
        ),
        (
            "- name: a\n  address: db.example.com:9100\n- name: b\n  address: DB.example.com:9100\n",
            "agents.yml:3: duplicate address db.example.com:9100: agent \"b\" has the same address as \"a\" (line 1)",
        ),
        ("agents: []\n", "agents.yml: no agents: the list is empty"),
        ("[]\n", "agents.yml: no agents: the list is empty"),
        ("# to do\n", "agents.yml: no agents: the list is empty"),
        (
            "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  cpu_for: 2x\n",
            "agents.yml:5: rules.cpu_for: invalid duration \"2x\": expected a Prometheus duration like 30s, 2m, 1h30m",
        ),
        (
            "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  disk_threshold: 120\n",
            "agents.yml:5: rules.disk_threshold: invalid percentage 120: expected a number between 0 and 100 (exclusive)",
        ),
        (
            "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  cutoff_min_agents: 1\n",
            "agents.yml:5: rules.cutoff_min_agents: invalid number of agents 1: expected 2 or more",
        ),
        (
            "- name: a\n  address: x:1\n   bad: [\n",
            "agents.yml:3: mapping values are not allowed in this context",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  action_url: http://10.8.0.1:9100\n",
            "agents.yml:3: agent \"a\": action_url needs action_key_file",
        ),
        (
            "- name: a\n  address: 10.0.0.1:9100\n  action_key_file: a.key\n  action_url: 10.8.0.1:9100\n",
            "agents.yml:4: agent \"a\": action_url \"10.8.0.1:9100\" is not http(s)://host:port",
        ),
    ];
    for (content, want) in cases {
        assert_eq!(
            &error_for("agents.yml", content, &[]),
            want,
            "input:\n{content}"
        );
    }
}

#[test]
fn format_is_told_apart_by_content_when_the_extension_says_nothing() {
    // A YAML list without a .yml extension is still read as YAML: its error is a YAML one.
    let want = "agents.list:3: unknown field `bogus`, expected one of name, address, labels, scheme, bearer_token_file, tls, cf_access, action_key_file, action_url";
    assert_eq!(
        error_for(
            "agents.list",
            "- name: a\n  address: 10.0.0.1:9100\n  bogus: 1\n",
            &[]
        ),
        want
    );
    let want = "agents.list:1: malformed line \"a b c\": expected NAME HOST:PORT";
    assert_eq!(error_for("agents.list", "a b c\n", &[]), want);
}

#[test]
fn cloudflare_access_needs_prometheus_2_55() {
    let yml = "- name: a\n  address: 10.0.0.1:9100\n- name: edge1\n  address: edge1.example.com:443\n  scheme: https\n  cf_access:\n    client_id_file: id\n    client_secret_file: secret\n- name: edge2\n  address: edge2.example.com:443\n  scheme: https\n  cf_access:\n    client_id_file: id\n    client_secret_file: secret\n";
    let want = |line: u32, agent: &str, version: &str| {
        format!(
            "agents.yml:{line}: agent \"{agent}\" uses cf_access, which needs Prometheus 2.55.0 or newer (http_headers); \
             --prometheus-version is {version}: run a newer Prometheus and pass --prometheus-version, or remove cf_access"
        )
    };
    // Both agents are named, one line each; the default version is Debian 12's 2.42.0.
    let got = error_for("agents.yml", yml, &["--prometheus-version", "2.54.1"]);
    assert_eq!(
        got,
        format!(
            "{}\n{}",
            want(3, "edge1", "2.54.1"),
            want(9, "edge2", "2.54.1")
        )
    );
    let got = error_for("agents.yml", yml, &[]);
    assert_eq!(
        got,
        format!(
            "{}\n{}",
            want(3, "edge1", "2.42.0"),
            want(9, "edge2", "2.42.0")
        )
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("agents.txt"), "web1 10.0.0.1:9100\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--scrape-interval", "10s", "--scrape-timeout", "15s"],
            "vpsmon-gen-config: --scrape-timeout 15s is longer than --scrape-interval 10s: Prometheus rejects that",
        ),
        (
            &["--scrape-interval", "2m"],
            "vpsmon-gen-config: --rate-window 2m must cover at least two scrapes (--scrape-interval 2m), or rate() has nothing to compute",
        ),
        (
            &["--receiver-url", "127.0.0.1:9097/alerts"],
            "vpsmon-gen-config: --receiver-url \"127.0.0.1:9097/alerts\": not a valid URL (relative URL without a base); expected an http:// or https:// URL",
        ),
        (
            &["--remote-write", "ftp://store.example.com/write"],
            "vpsmon-gen-config: --remote-write \"ftp://store.example.com/write\": expected an http:// or https:// URL",
        ),
        (
            &["--alertmanager-address", "127.0.0.1"],
            "vpsmon-gen-config: --alertmanager-address: address \"127.0.0.1\" has no port: expected HOST:PORT",
        ),
        (
            &[
                "--shards",
                "3",
                "--prometheus-address",
                "127.0.0.1:9090,127.0.0.1:9091",
            ],
            "vpsmon-gen-config: --prometheus-address was given 2 times for --shards 3: give one per shard, or one (shard i then uses port+i)",
        ),
        (
            &["--shards", "0"],
            "vpsmon-gen-config: --shards must be at least 1",
        ),
        // A reminder within the receiver's de-duplication window would be dropped.
        (
            &["--repeat-interval", "5m"],
            "vpsmon-gen-config: --repeat-interval 5m must be at least 5m16s: the receiver takes an identical notification within 5m15s (max(--group-interval 5m, 10s) + 15s per Alertmanager) for Alertmanager's retry, so a reminder sooner than that would be dropped as a duplicate; raise --repeat-interval or lower --group-interval",
        ),
        (
            &[
                "--profile",
                "fast",
                "--repeat-interval",
                "30s",
                "--alertmanager-address",
                "127.0.0.1:9093,127.0.0.1:9094",
            ],
            "vpsmon-gen-config: --repeat-interval 30s must be at least 41s: the receiver takes an identical notification within 40s (max(--group-interval 2s, 10s) + 15s per Alertmanager) for Alertmanager's retry, so a reminder sooner than that would be dropped as a duplicate; raise --repeat-interval or lower --group-interval",
        ),
        (
            &[
                "--receiver-url",
                "http://127.0.0.1:9097/alerts?dedup_window=1h",
            ],
            "vpsmon-gen-config: --receiver-url \"http://127.0.0.1:9097/alerts?dedup_window=1h\": must have no query string (gen-config adds ?dedup_window= itself)",
        ),
    ];
    for (args, want) in cases {
        let out = run(gen_config()
            .current_dir(dir.path())
            .args(["--agents", "agents.txt", "--out-dir", "out"])
            .args(*args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim_end(), *want, "{args:?}");
        assert!(!dir.path().join("out").exists());
    }
    // clap's own errors (exit 2) say which flag and why.
    let out = run(gen_config().current_dir(dir.path()).args([
        "--agents",
        "agents.txt",
        "--cpu-threshold",
        "180",
    ]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "invalid value '180' for '--cpu-threshold <PERCENT>': invalid percentage 180: expected a number between 0 and 100 (exclusive)"
        ),
        "{}",
        out.stderr
    );
    let out = run(gen_config().current_dir(dir.path()).args([
        "--agents",
        "agents.txt",
        "--cpu-for",
        "2 minutes",
    ]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("invalid duration \"2 minutes\""),
        "{}",
        out.stderr
    );
}

#[test]
fn an_error_leaves_existing_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("agents.txt");
    write(&input, "web1 10.0.0.1:9100\n");
    let out_dir = dir.path().join("out");
    crate::support::generate(&["--agents", s(&input), "--out-dir", s(&out_dir)]);
    let before = snapshot(&out_dir);
    // Now a valid agent followed by a broken one: not even the targets of the good one change.
    write(
        &input,
        "web1 10.0.0.1:9100\nweb2 10.0.0.2:9100\nweb3 10.0.0.3\n",
    );
    let out = run(gen_config().args(["--agents", s(&input), "--out-dir", s(&out_dir)]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("agents.txt:3: address \"10.0.0.3\" has no port"),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&out_dir), before);
}
