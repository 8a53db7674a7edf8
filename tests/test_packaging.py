"""A non-editable install must carry the model tables, prompts and topics inside the package."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_wheel_ships_tables_prompts_and_topics_and_finds_them(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(root),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0 and "hatchling" in build.stderr:
        pytest.skip("hatchling not installed in this environment")
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("synthgen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "synthgen/llms/bedrock.toml",
        "synthgen/llms/protocols.toml",
        "synthgen/prompts/sentiment.txt",
        "synthgen/prompts/sentiment-faithful.txt",
        "synthgen/topics/sentiment.toml",
        "synthgen/tasks/sentiment.toml",
        "synthgen/tasks/emotion.toml",
        "synthgen/prompts/emotion.txt",
        "synthgen/topics/emotion.toml",
    ):
        assert expected in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import synthgen.catalog as c, synthgen.prompt as p, synthgen.task as t; "
        "assert 'synthgen/llms' in str(c.catalog_dirs()[0]).replace('\\\\', '/'), c.catalog_dirs(); "
        "assert [x.name for x in t.list_tasks()] == ['emotion', 'sentiment', 'sentiment3'], t.task_dirs(); "
        "print(len(c.load_catalog()), len(p.plan_run(4, 1)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    count, rounds = map(int, out.stdout.split())
    assert count >= 16 and rounds == 4
