"""The option table and its rules, without sockets: value parsing and ranges, CONFIG GET printing, CONFIG SET of
several options (all or nothing), start-up files and flags with Redis's error texts, CONFIG REWRITE's rules.

The expected texts were recorded from redis-server 7.0.15."""
from __future__ import annotations

import os

import pytest

from shoal.node.config import (OPTIONS, Config, ConfigError, ConfigSetError, RewriteState, args_to_config_text,
                               c_repr, format_memory, is_local_address, lookup_option, memtoull, string2ll)


@pytest.fixture
def cfg():
    here = os.getcwd()
    c = Config()
    yield c
    os.chdir(here)  # `dir` changes the process's directory


def set_error(cfg, *pairs, addr="127.0.0.1:5000") -> str:
    with pytest.raises(ConfigSetError) as e:
        cfg.set_many(list(zip(pairs[::2], pairs[1::2])), client_addr=addr)
    return e.value.msg


# --------------------------------------------------------------------------------------------------- the table


def test_table_lists_every_option_of_config_get_star(cfg):
    names = {n for n, _ in cfg.matching("*")}
    assert len(names) == 192  # what redis-server 7.0.15 (built with TLS) answers to CONFIG GET *
    for must in ("maxmemory", "slave-read-only", "hash-max-ziplist-entries", "shutdown-on-sigint",
                 "latency-tracking-info-percentiles", "tls-port", "socket-mark-id", "lua-time-limit"):
        assert must in names
    # hidden options answer only to their exact name
    assert "use-exit-on-panic" not in names
    assert cfg.matching("use-exit-on-panic") == [("use-exit-on-panic", "no")]


def test_defaults_print_as_redis_prints_them(cfg):
    expect = {
        "save": "3600 1 300 100 60 10000", "client-output-buffer-limit":
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        "proto-max-bulk-len": "536870912", "client-query-buffer-limit": "1073741824", "maxmemory": "0",
        "hash-max-listpack-entries": "512", "list-max-listpack-size": "-2", "bind": "* -::*",
        "latency-tracking-info-percentiles": "50 99 99.9", "oom-score-adj-values": "0 200 800",
        "unixsocketperm": "0", "shutdown-on-sigint": "default", "notify-keyspace-events": "",
        "proc-title-template": "{title} {listen-addr} {server-mode}", "active-defrag-ignore-bytes": "104857600",
        "auto-aof-rewrite-min-size": "67108864", "tls-session-cache-size": "20480", "pidfile": "",
    }
    for name, value in expect.items():
        assert cfg.show(name) == value, name
    assert cfg.show("dir") == os.getcwd()


def test_names_are_case_insensitive_and_answer_under_the_spelling_asked(cfg):
    assert cfg.matching("HZ") == [("HZ", "10")]
    assert ("hz", "10") in cfg.matching("H*")
    assert cfg["slave-read-only"] is True and lookup_option("SLAVE-READ-ONLY").name == "replica-read-only"


# --------------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("1", 1), ("1k", 1000), ("1kb", 1024), ("1KB", 1024), ("1Kb", 1024), ("2G", 2000000000),
    ("3b", 3), ("1mb", 1024**2), ("", 0), ("kb", 0), ("18446744073709551615", 2**64 - 1),
    ("18446744073709551616", 2**64 - 1), ("18446744073709551615k", (2**64 - 1) * 1000 % 2**64),
])
def test_memtoull_follows_redis(text, value):
    assert memtoull(text) == value


@pytest.mark.parametrize("text", ["-1", "1.5mb", " 1", "+5", "0x10", "1e3", "1 mb", "1tb"])
def test_memtoull_refuses(text):
    assert memtoull(text) is None


@pytest.mark.parametrize("text", ["+5", " 5", "5.0", "", "00012", "-0", "9223372036854775808", "1e3"])
def test_string2ll_is_strict(text):
    assert string2ll(text) is None


@pytest.mark.parametrize("name,value,error", [
    ("hz", "abc", "argument couldn't be parsed into an integer"),
    ("hz", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("maxmemory-samples", "0", "argument must be between 1 and 2147483647 inclusive"),
    ("maxclients", "-1", "argument must be between 1 and 4294967295 inclusive"),
    ("hash-max-listpack-entries", "-1", "argument must be between 0 and 9223372036854775807 inclusive"),
    ("slowlog-log-slower-than", "-2", "argument must be between -1 and 9223372036854775807 inclusive"),
    ("maxmemory", "1x", "argument must be a memory value"),
    ("maxmemory", "-1", "argument must be a memory value"),
    ("proto-max-bulk-len", "18446744073709551615",
     "argument must be between 1048576 and 9223372036854775807 inclusive"),
    ("maxmemory-clients", "-101%", "argument must be a memory or percent value"),
    ("maxmemory-clients", "101%", "percentage argument must be less or equal to 100"),
    ("loglevel", "nothing", "argument(s) must be one of the following: debug, verbose, notice, warning"),
    ("activedefrag", "maybe", "argument must be 'yes' or 'no'"),
    ("notify-keyspace-events", "Q", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
    ("save", "1 2 3", "Invalid save parameters"),
    ("save", "0 1", "Invalid save parameters"),
    ("save", "10 1  20 2", "Invalid save parameters"),
    ("client-output-buffer-limit", "master 1 1 1", "Invalid client class specified in buffer limit configuration."),
    ("client-output-buffer-limit", "normal 1 1", "Wrong number of arguments in buffer limit configuration."),
    ("oom-score-adj-values", "0 200", "wrong number of arguments"),
    ("oom-score-adj-values", "0 200 3000", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
    ("latency-tracking-info-percentiles", "101",
     "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
    ("latency-tracking-info-percentiles", "x", "Invalid latency-tracking-info-percentiles parameters"),
    ("shutdown-on-sigint", "save nosave", "shutdown options SAVE and NOSAVE can't be used simultaneously"),
    ("shutdown-on-sigint", "", "argument(s) must be one of the following: default, save, nosave, now, force"),
    ("proc-title-template", "{title}", "template format is invalid or contains unknown variables"),
    ("cluster-announce-hostname", "a b", "Hostnames may only contain alphanumeric characters, hyphens or dots"),
    ("port", "65536", "argument must be between 0 and 65535 inclusive"),
])
def test_config_set_errors_have_redis_texts(cfg, name, value, error):
    assert set_error(cfg, name, value) == f"ERR CONFIG SET failed (possibly related to argument '{name}') - {error}"


@pytest.mark.parametrize("name,value,shown", [
    ("maxmemory", "10mb", "10485760"), ("maxmemory", "1GB", "1073741824"), ("maxmemory-clients", "10%", "10%"),
    ("maxmemory-clients", "0%", "0"), ("maxmemory-clients", "10mb", "10485760"), ("hz", "1000", "500"),
    ("hz", "0", "1"), ("loglevel", "WARNING", "warning"), ("oom-score-adj", "relative", "yes"),
    ("notify-keyspace-events", "nmEKd$gA", "AKEm"), ("notify-keyspace-events", "nmKEdtexzhsl$", "$lshzxetdnKEm"),
    ("notify-keyspace-events", "g$lshzxetd", "A"), ("shutdown-on-sigint", "force now save", "save now force"),
    ("shutdown-on-sigint", "default now", "now"), ("latency-tracking-info-percentiles", "50.5 0 100 99.999",
                                                    "50.5 0 100 99.999"),
    ("latency-tracking-info-percentiles", "", ""), ("save", "", ""), ("save", "100 10 200 20", "100 10 200 20"),
    ("client-output-buffer-limit", "slave 1mb 2k 3 replica 5 5 5",
     "normal 0 0 0 slave 5 5 5 pubsub 33554432 8388608 60"),
    ("list-max-ziplist-size", "-3", "-3"), ("slave-priority", "7", "7"),
])
def test_config_set_then_get(cfg, name, value, shown):
    cfg.set_many([(name, value)])
    assert cfg.show(name) == shown


def test_notify_flags_keep_n_when_a_is_shown(cfg):
    cfg.set_many([("notify-keyspace-events", "AKEn")])
    assert cfg.show("notify-keyspace-events") == "AKE"
    assert "n" in cfg["notify-keyspace-events"]  # still delivered


# --------------------------------------------------------------------------------------------------- CONFIG SET


def test_immutable_protected_unknown_and_duplicates(cfg):
    assert set_error(cfg, "daemonize", "no") == \
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    assert set_error(cfg, "dir", "/tmp") == \
        "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    assert set_error(cfg, "foo", "bar") == "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    assert set_error(cfg, "hz", "5", "HZ", "6") == \
        "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter"
    # the first problem found wins, as in Redis
    assert set_error(cfg, "foo", "bar", "daemonize", "no").endswith("'foo'")
    assert "daemonize" in set_error(cfg, "daemonize", "no", "foo", "bar")


def test_a_name_and_its_alias_are_two_entries(cfg):
    cfg.set_many([("slave-priority", "10"), ("replica-priority", "20")])
    assert cfg["replica-priority"] == 20


def test_set_many_is_all_or_nothing(cfg):
    msg = set_error(cfg, "hz", "5", "maxmemory", "1mb", "maxmemory-samples", "0")
    assert "maxmemory-samples" in msg
    assert cfg["hz"] == 10 and cfg["maxmemory"] == 0


def test_a_refusing_listener_rolls_back_every_option(cfg):
    seen = []
    cfg.on_change("hz", lambda new, old: seen.append((new, old)))

    def refuse(new, old):
        raise ConfigError("nope")
    cfg.on_change("timeout", refuse)
    msg = set_error(cfg, "hz", "20", "timeout", "5")
    assert msg == "ERR CONFIG SET failed (possibly related to argument 'timeout') - nope"
    assert cfg["hz"] == 10 and cfg["timeout"] == 0
    assert seen == [(20, 10), (10, 20)]  # told of the change, then of its undoing


def test_changes_needing_the_server_are_refused_without_a_listener(cfg):
    assert set_error(cfg, "port", "7000").endswith("Unable to listen on this port. Check server logs.")
    assert set_error(cfg, "bind", "127.0.0.2").endswith("Failed to bind to specified addresses.")
    assert set_error(cfg, "appendonly", "yes").endswith("Unable to turn on AOF. Check server logs.")
    cfg.set_many([("port", "6379"), ("appendonly", "no")])  # no change: nothing to do, fine
    got = []
    cfg.on_change("port", lambda new, old: got.append(new))
    cfg.set_many([("port", "7000")])
    assert got == [7000] and cfg["port"] == 7000


def test_protected_configs_follow_enable_protected_configs(cfg, tmp_path):
    cfg.set("enable-protected-configs", "local", startup=True)
    assert "protected" in set_error(cfg, "dir", str(tmp_path), addr="10.1.2.3:5000")
    cfg.set_many([("dir", str(tmp_path))], client_addr="127.0.0.1:5000")
    assert cfg.show("dir") == str(tmp_path) == os.getcwd()
    assert set_error(cfg, "dir", str(tmp_path / "missing")).endswith("No such file or directory")


def test_sensitive_values_are_reported_for_redaction(cfg):
    assert cfg.set_many([("hz", "10"), ("requirepass", "x"), ("masterauth", "y")]) == [1, 2]


def test_is_local_address():
    assert is_local_address("127.0.0.1:5000") and is_local_address("[::1]:5000") and is_local_address("/tmp/s")
    assert not is_local_address("10.0.0.1:5000")


# --------------------------------------------------------------------------------------------------- start-up


def load_error(*args: str) -> str:
    with pytest.raises(ConfigError) as e:
        Config().load_args(list(args))
    return str(e.value)


def test_command_line_becomes_config_lines():
    assert args_to_config_text(["--port", "7000", "--save", "", "--bind", "a", "b"]) == \
        'port "7000" \nsave "" \nbind "a" "b" '
    assert args_to_config_text(["--save"]) == 'save ""'
    assert args_to_config_text(["--save", "--port", "1"]) == 'save ""\nport "1" '
    # a value may start with -- when it is the first one after a name
    assert args_to_config_text(["--requirepass", "--x"]) == 'requirepass "--x" '


def test_startup_errors_are_redis_texts():
    assert load_error("--port", "abc") == ("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                                           "Reading the configuration file, at line 2\n"
                                           ">>> 'port \"abc\"'\nargument couldn't be parsed into an integer")
    assert load_error("--foo", "bar").endswith(">>> 'foo \"bar\"'\nBad directive or wrong number of arguments")
    assert load_error("--port", "1", "2").endswith("wrong number of arguments")
    assert load_error("--hz", "5", "--save", "1").endswith("at line 3\n>>> 'save \"1\"'\nInvalid save parameters")
    assert load_error("--daemonize", "maybe").endswith("argument must be 'yes' or 'no'")
    assert load_error("--cluster-enabled", "yes", "--replicaof", "h", "1").endswith(
        "replicaof directive not allowed in cluster mode")
    assert load_error("--logfile", "/nonexistent/dir/x.log").endswith(
        "Can't open the log file: No such file or directory")


def test_immutable_options_are_set_at_startup():
    c = Config()
    c.load_args(["--databases", "4", "--enable-debug-command", "local", "--unixsocketperm", "700"])
    assert c["databases"] == 4 and c["enable-debug-command"] == "local" and c.show("unixsocketperm") == "700"


def test_config_file_then_flags(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("# comment\nport 7001\nsave 900 1\nsave 300 10\nslave-read-only no\n"
                    "list-max-ziplist-entries 5\nrequirepass \"a b\"\n")
    c = Config()
    c.load_file(str(conf))
    c.load_args(["--hz", "20"])
    assert c["port"] == 7001 and c["save"] == [(900, 1), (300, 10)] and c["replica-read-only"] is False
    assert c["requirepass"] == "a b" and c["hz"] == 20 and c.config_file == str(conf)
    with pytest.raises(ConfigError) as e:
        c2 = Config()
        c2.load_file(str(conf))
        c2.load_args(["--hz", "x"])
    assert "at line 9" in str(e.value)  # the file's 8 lines (last one empty), then the flags


def test_file_errors(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('port "7001\n')
    with pytest.raises(ConfigError) as e:
        Config().load_file(str(conf))
    assert str(e.value).endswith("at line 1\n>>> 'port \"7001'\nUnbalanced quotes in configuration line")
    with pytest.raises(ConfigError) as e:
        Config().load_file(str(tmp_path / "missing.conf"))
    assert "can't open config file" in str(e.value)


def test_include_and_module_directives(tmp_path):
    (tmp_path / "extra.conf").write_text("hz 33\n")
    conf = tmp_path / "main.conf"
    conf.write_text(f"include {tmp_path}/extra.conf\ninclude {tmp_path}/none-*.conf\nloadmodule /x/y.so a b\n"
                    "mymod.opt 5\nuser alice on >pw\n")
    c = Config()
    c.load_file(str(conf))
    assert c["hz"] == 33 and c.loadmodules == [("/x/y.so", ["a", "b"])]
    assert c.module_configs == {"mymod.opt": "5"} and c.user_lines == [["alice", "on", ">pw"]]


# --------------------------------------------------------------------------------------------------- rewrite


def test_format_memory_and_quoting():
    assert [format_memory(v) for v in (0, 1, 1024, 1536, 1024**2, 3 * 1024**3)] == \
        ["0", "1", "1kb", "1536", "1mb", "3gb"]
    assert c_repr('a "b"\n\x01é') == '"a \\"b\\"\\n\\x01\\xc3\\xa9"'


def test_rewrite_keeps_comments_order_and_unknown_directives(cfg):
    old = ("# top comment\n\nhz 20\nsave 900 1\nsave 300 10\nslave-read-only no\nhash-max-ziplist-entries 100\n"
           "bogus-directive 1\ninclude /etc/other.conf\nloglevel notice\nloglevel verbose\n")
    cfg.set_many([("hz", "10"), ("save", "60 5"), ("maxmemory", "2mb"), ("loglevel", "verbose"),
                  ("replica-read-only", "no"), ("hash-max-listpack-entries", "100")])
    out = cfg.rewrite_content(old)
    lines = out.split("\n")
    assert lines[:8] == ["# top comment", "", "hz 10", "save 60 5", "", "replica-read-only no",
                         "hash-max-listpack-entries 100", "# ??? bogus-directive 1"]
    assert lines[8] == "include /etc/other.conf"  # not an option: left alone
    assert lines[9] == "loglevel verbose" and lines[10] == ""  # the duplicate is blanked
    tail = lines[lines.index("# Generated by CONFIG REWRITE") + 1:]
    assert "maxmemory 2mb" in tail and any(x.startswith("dir ") for x in tail)
    assert out.count("# Generated by CONFIG REWRITE") == 1
    assert "\n\n\n" not in out


def test_rewrite_of_defaults_writes_only_what_must_be_kept(cfg):
    out = cfg.rewrite_content("")
    assert out.startswith("# Generated by CONFIG REWRITE\n")
    body = [x for x in out.split("\n")[1:] if x]
    # the directory, the save points and the percentiles are always written (as Redis does); nothing else
    assert body[0].startswith("dir ")
    assert body[1:] == ["save 3600 1", "save 300 100", "save 60 10000", "latency-tracking-info-percentiles 50 99 99.9"]


def test_rewrite_special_options(cfg):
    cfg.set_many([("save", ""), ("notify-keyspace-events", "KEA"), ("client-output-buffer-limit",
                                                                      "pubsub 64mb 16mb 90"),
                  ("maxmemory-clients", "10%"), ("shutdown-on-sigterm", "now force")])
    out = cfg.rewrite_content("bind 127.0.0.1\n")
    assert 'save ""' in out and 'notify-keyspace-events "AKE"' in out
    assert "client-output-buffer-limit pubsub 64mb 16mb 90" in out and "client-output-buffer-limit normal" not in out
    assert "maxmemory-clients 10%" in out and "shutdown-on-sigterm now force" in out
    assert "bind" not in out  # back at the default bind: the old line goes


def test_rewrite_state_signature_already_present():
    st = RewriteState("# a\n# Generated by CONFIG REWRITE\n")
    st.line("hz", "hz 5", True)
    assert st.content() == "# a\n# Generated by CONFIG REWRITE\n\nhz 5\n"


def test_rewrite_writes_the_file_atomically(cfg, tmp_path):
    conf = tmp_path / "n.conf"
    conf.write_text("hz 20\n")
    cfg.config_file = str(conf)
    cfg.set_many([("hz", "11")])
    cfg.rewrite()
    assert conf.read_text().startswith("hz 11\n")
    assert (conf.stat().st_mode & 0o777) == 0o644 & ~_umask()
    assert sorted(os.listdir(tmp_path)) == ["n.conf"]  # no temporary file left behind


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_every_option_rewrites_and_reads_back(cfg, tmp_path):
    """A rewritten file, read again, gives the same values (for every option, set away from its default)."""
    changes = {"hz": "20", "maxmemory": "3mb", "save": "10 1", "notify-keyspace-events": "Kx",
               "maxmemory-policy": "allkeys-lru", "replica-announce-ip": "10.0.0.1", "latency-tracking": "no",
               "client-output-buffer-limit": "normal 1mb 1mb 5", "maxmemory-clients": "5%",
               "latency-tracking-info-percentiles": "90", "ignore-warnings": "ARM64-COW-BUG",
               "oom-score-adj-values": "1 2 3", "shutdown-on-sigint": "nosave"}
    cfg.set_many(list(changes.items()))
    conf = tmp_path / "round.conf"
    cfg.config_file = str(conf)
    cfg.rewrite()
    again = Config()
    again.load_file(str(conf))
    for o in OPTIONS:
        if o.name != "dir":
            assert again.show(o.name) == cfg.show(o.name), o.name


def test_one_quoted_argument_of_a_multi_argument_option_is_split():
    c = Config()
    c.load_args(["--save", "900 1 300 2", "--client-output-buffer-limit", "normal 1mb 0 0", "--bind", "127.0.0.1 ::1"])
    assert c["save"] == [(900, 1), (300, 2)] and c["bind"] == "127.0.0.1 ::1"
    assert c["client-output-buffer-limit"]["normal"] == (1024 * 1024, 0, 0)
