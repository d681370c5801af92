"""bench/eval_texts.py: labels with offsets and hashes rebuild their texts from a local git
archive (a tiny repository made here, no network)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("eval_texts", ROOT / "bench" / "eval_texts.py")
eval_texts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_texts)

POLICY = ("# Privacy\n\nIntro line.\n\nSharing\n-------\n\nWe share your data with advertisers. "
          "We do not sell it.\n\n### **3\\. [Kids](#kids)**\n\nChildren under 13 need a parent.\n")
HTML = b"<html><body><main><h1>Policy</h1><p>We collect your email address.</p></main></body></html>"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def _archive(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "mirrors" / "Owner+some-versions" / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "Svc").mkdir()
    (repo / "Svc" / "Privacy Policy.md").write_text(POLICY, encoding="utf-8")
    (repo / "Svc" / "Page.html").write_bytes(HTML)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v1")
    return tmp_path / "mirrors", _git(repo, "rev-parse", "HEAD")


def _record(n: int, commit: str, start: int, end: int, text: str, **extra) -> dict:
    return {"id": f"t-{n}", "source": "Owner/some-versions", "path": "Svc/Privacy Policy.md",
            "commit": commit, "policy": "svc", "start": start, "end": end,
            "sha256": hashlib.sha256(text.encode()).hexdigest(), "heading": "", "lang": "en",
            "sampled": "random", "labels": {"sale": False}, **extra}


def test_materialise_checks_hashes_and_finds_moved_sentences(tmp_path, capsys):
    mirrors, commit = _archive(tmp_path)
    sentence = "We share your data with advertisers."
    start = POLICY.index(sentence)
    labels = tmp_path / "labels"
    labels.mkdir()
    records = [
        _record(1, commit, start, start + len(sentence), sentence),
        _record(2, commit, start - 3, start - 3 + len(sentence), sentence),  # offsets moved
        _record(3, commit, start, start + len(sentence), "We sell your data to brokers!"),
        {**_record(4, commit, 0, 0, ""), "path": "Svc/Page.html", "extract": True},
    ]
    html_text = eval_texts.archived_text(eval_texts.git_dir("Owner/some-versions", mirrors),
                                         commit, "Svc/Page.html", extract=True)
    assert "<p>" not in html_text
    email = html_text.index("We collect your email address.")
    records[3].update(start=email, end=email + 30,
                      sha256=hashlib.sha256(html_text[email:email + 30].encode()).hexdigest())
    (labels / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "texts"
    code = eval_texts.main(["materialise", "--labels", str(labels), "--mirrors", str(mirrors),
                            "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tiny.jsonl" in err[0] and "t-3" in err[0]
    rows = [json.loads(line) for line in (out / "tiny.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t-1", "t-2", "t-4"]
    assert rows[0]["text"] == rows[1]["text"] == sentence
    assert rows[2]["text"] == "We collect your email address."
    assert set(rows[0]) >= {"id", "source", "policy", "text", "labels", "heading", "lang"}


def test_candidates_give_offsets_hashes_and_heading_paths(tmp_path, capsys):
    mirrors, commit = _archive(tmp_path)
    assert eval_texts.main(["candidates", "--source", "Owner/some-versions", "--path",
                            "Svc/Privacy Policy.md", "--mirrors", str(mirrors)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_text = {r["text"]: r for r in rows}
    kids = by_text["Children under 13 need a parent."]
    assert kids["heading"] == "Privacy > Sharing > 3. Kids"  # no Markdown marks
    assert kids["commit"] == commit
    assert POLICY[kids["start"]:kids["end"]] == kids["text"]
    assert by_text["We do not sell it."]["heading"] == "Privacy > Sharing"
    assert by_text["Sharing"]["heading"] == "Privacy"  # a title underlined with ---


def test_missing_mirror_is_one_error_line(tmp_path, capsys):
    assert eval_texts.main(["candidates", "--source", "Nobody/none", "--path", "x.md",
                            "--mirrors", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Nobody/none" in err[0]
