"""The package as users install it: a wheel in a fresh virtual environment, run outside the checkout.

Everything the package reads at run time (the DuckDB views, the schemas, the demo samples) must be
inside the wheel; a file read from the checkout would pass every other test and fail here.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv

from conftest import REPO


def run(cmd, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_wheel_installed_in_a_fresh_venv_runs_sql_and_report(kafka_bootstrap, topic, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        tmp_path, env)
    (wheel,) = wheels.glob("newswire-*.whl")
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    py = target / "bin" / "python"
    run([str(py), "-m", "pip", "install", "-q", "--require-hashes", "--only-binary=:all:", "-r",
         str(REPO / "requirements.lock")], tmp_path, env, timeout=1200)
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp_path, env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run([str(py), "-c", "import pipeline, pipeline.news.schema as s; print(pipeline.__file__); print(s.SCHEMAS_DIR)"],
                work, env).stdout.split()
    assert all(str(target) in line for line in where), f"not the installed copy: {where}"
    newswire = str(target / "bin" / "newswire")
    run([newswire, "produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--samples"], work, env)
    lake = work / "lake"
    run([newswire, "run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake),
         "--until-idle", "2", "--trigger-interval", "0.5", "--ner-processes", "1"], work, env)
    counted = run([newswire, "sql", "--lake", str(lake), "--format", "csv",
                   "SELECT count(*) AS n FROM stories"], work, env).stdout.splitlines()
    assert counted[0] == "n" and int(counted[1]) > 0, counted
    report = work / "report.html"
    run([newswire, "report", "--lake", str(lake), "--out", str(report)], work, env)
    assert report.stat().st_size > 10_000 and "<svg" in report.read_text(encoding="utf-8")
