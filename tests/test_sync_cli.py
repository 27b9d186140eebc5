"""`dabiao device ...` simulates a phone against a real server process; `dabiao sync compact`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serverkit import demo_dir, start_process  # noqa: F401  (fixtures)

from server.cli import main
from server.services.demo import DEMO_PASSWORD, tiny_png


def test_a_simulated_phone_answers_records_and_syncs(demo_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    proc, url = start_process(data)
    monkeypatch.setenv("DABIAO_PASSWORD", DEMO_PASSWORD)
    home = ["device", "--home", str(tmp_path / "phone")]
    try:
        assert main([*home, "login", "--server", url, "kf_field_qzh"]) == 0
        assert main([*home, "sync"]) == 0
        capsys.readouterr()
        assert main([*home, "status"]) == 0
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if "青竹湖街道" in ln)
        aid = line.split()[0]
        photo = tmp_path / "scan.png"
        photo.write_bytes(tiny_png("议事协调机构成立文件"))
        assert main([*home, "answer", aid, "TS-BZ-01", "true", "--photo", str(photo)]) == 0
        assert main([*home, "record", aid, "drill", "2024-06-12", "防汛应急演练",
                     "--field", "plan=防汛应急预案", "--field", "type=实战演练"]) == 0
        # The phone knows the standard after a sync: a wrong answer is refused before it is queued.
        assert main([*home, "answer", aid, "TS-BZ-01", '"也许"']) == 1
        assert "TS-BZ-01" in capsys.readouterr().err
        assert main([*home, "sync"]) == 0
        out = capsys.readouterr().out
        assert "uploaded 1 file(s); pushed 2 edit(s): 2 applied" in out
        assert main([*home, "status"]) == 0
        assert "0 edit(s) pending" in capsys.readouterr().out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Server down: the edit is kept and sync fails with a clear message and exit 1.
    assert main([*home, "answer", aid, "TS-BZ-03", "true"]) == 0
    assert main(["device", "--home", str(tmp_path / "phone"), "--attempts", "2", "sync"]) == 1
    assert "稍后自动重试" in capsys.readouterr().err
    assert main([*home, "status"]) == 0
    assert "1 edit(s) pending" in capsys.readouterr().out


def test_device_commands_need_a_login_first(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not logged in"):
        main(["device", "--home", str(tmp_path / "nowhere"), "sync"])


def test_sync_compact_reports_what_it_dropped(demo_dir: Path, tmp_path: Path, capsys) -> None:
    shutil.copytree(demo_dir, tmp_path / "data")
    assert main(["sync", "compact", "--data-dir", str(tmp_path / "data"), "--days", "0"]) == 0
    assert "dropped 0 tombstone(s)" in capsys.readouterr().out
