"""nodes.conf as a file (cluster/config_file.py): load, crash-safe save, and the lock against sharing it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shoal.cluster.config_file import ConfigFile, ConfigFileError, ConfigFileLockedError
from shoal.gossip.view import ClusterView, NodeRecord

A = "a" * 40
B = "b" * 40


def make_view() -> ClusterView:
    me = NodeRecord(id=A, ip="127.0.0.1", port=7000, cport=17000)
    view = ClusterView(me)
    other = view.add(NodeRecord(id=B, ip="127.0.0.1", port=7001, cport=17001, flags={"master"}, config_epoch=2))
    view.current_epoch = 5
    view.last_vote_epoch = 3
    me.config_epoch = 4
    for s in range(0, 100):
        view.assign(s, me)
    for s in range(100, 200):
        view.assign(s, other)
    view.migrating[5] = B
    view.importing[150] = B
    return view


def test_missing_and_empty_files_mean_no_configuration(tmp_path):
    cf = ConfigFile(str(tmp_path / "nodes.conf"))
    assert cf.load() is None
    (tmp_path / "nodes.conf").write_text("")
    assert cf.load() is None
    (tmp_path / "nodes.conf").write_text("\n\n")
    assert cf.load() is None


def test_save_then_load_gives_the_same_view(tmp_path):
    path = str(tmp_path / "nodes.conf")
    cf = ConfigFile(path)
    view = make_view()
    cf.save(view.config_text())
    loaded = cf.load()
    assert loaded.config_text() == view.config_text()
    assert loaded.myself.id == A and loaded.current_epoch == 5 and loaded.last_vote_epoch == 3
    assert loaded.owner(150).id == B and loaded.importing == {150: B} and loaded.migrating == {5: B}
    assert loaded.dirty is False
    # no temp file is left behind
    assert os.listdir(tmp_path) == ["nodes.conf"]


def test_corrupt_file_names_the_line_in_redis_words(tmp_path):
    path = tmp_path / "nodes.conf"
    path.write_text(make_view().config_text() + "garbage line\n")
    with pytest.raises(ConfigFileError) as e:
        ConfigFile(str(path)).load()
    assert str(e.value).startswith('Unrecoverable error: corrupted cluster config file "garbage line"')
    path.write_bytes(b"\xff\xfe not utf8\n")
    with pytest.raises(ConfigFileError):
        ConfigFile(str(path)).load()


def test_failed_save_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = str(tmp_path / "nodes.conf")
    cf = ConfigFile(path)
    cf.save("old\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        cf.save("new\n")
    monkeypatch.undo()
    assert open(path).read() == "old\n"
    assert os.listdir(tmp_path) == ["nodes.conf"]


LOCK_MESSAGE = ("Sorry, the cluster configuration file {} is already used by a different Redis Cluster node. "
                "Please make sure that different nodes use different cluster configuration files.")


def test_a_second_holder_is_refused_with_redis_message(tmp_path):
    path = str(tmp_path / "nodes.conf")
    first = ConfigFile(path)
    first.lock()
    assert os.path.exists(path)  # created empty, as Redis does
    assert first.load() is None
    second = ConfigFile(path)
    with pytest.raises(ConfigFileLockedError) as e:
        second.lock()
    assert str(e.value) == LOCK_MESSAGE.format(path)
    first.unlock()
    second.lock()
    second.unlock()


def test_the_lock_survives_saves_that_replace_the_file(tmp_path):
    path = str(tmp_path / "nodes.conf")
    first = ConfigFile(path)
    first.lock()
    for i in range(3):
        first.save(f"version {i}\n")
        with pytest.raises(ConfigFileLockedError):
            ConfigFile(path).lock()
    first.unlock()


def test_the_lock_excludes_another_process(tmp_path):
    path = str(tmp_path / "nodes.conf")
    holder = ConfigFile(path)
    holder.lock()
    holder.save("x\n")
    code = ("import sys\nfrom shoal.cluster.config_file import ConfigFile, ConfigFileLockedError\n"
            "try:\n    ConfigFile(sys.argv[1]).lock()\nexcept ConfigFileLockedError as e:\n"
            "    print(e); sys.exit(1)\n")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and out.stdout.strip() == LOCK_MESSAGE.format(path)
    holder.unlock()
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
