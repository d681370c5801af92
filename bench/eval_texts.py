"""Texts of the extended labelled sets (issue 14), rebuilt from public policy archives.

The repository keeps only labels, offsets and hashes (bench/data/labels/<set>.jsonl); the policy
text stays in the archives (Open Terms Archive's *-versions repositories, ToS;DR's
tosback-versions), mirrored as git directories under --mirrors by the session's `fetch` tool.

  materialise  write bench/.texts/<set>.jsonl (id, source, policy, text, labels, heading, lang),
               the format of ../shared/eval/real-dev.jsonl, for `scanner rules eval` and
               bench/accuracy.py
  candidates   print the sentences of one archived policy (scanner.sentences.split_sentences)
               as JSON lines with offsets, sha256 and heading path, for labelling

Example: .venv/bin/python bench/eval_texts.py materialise --mirrors /work/.mirror
         .venv/bin/python bench/eval_texts.py candidates --source OpenTermsArchive/contrib-versions \\
             --path "Duolingo/Privacy Policy.md"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.extract import DocumentError, extract_document  # noqa: E402
from scanner.sentences import split_sentences  # noqa: E402

LABELS_DIR = ROOT / "bench" / "data" / "labels"
TEXTS_DIR = ROOT / "bench" / ".texts"
MIRRORS = Path("/work/.mirror")
# Content types guessed from an archived file's suffix, for records read through the extractor.
CONTENT_TYPES = {".html": "text/html", ".htm": "text/html", ".pdf": "application/pdf",
                 ".md": "text/plain", ".txt": "text/plain"}
MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
SETEXT_UNDERLINE = re.compile(r"^[ \t]*(?:=+|-+)[ \t]*$")
MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
LIST_LINE = re.compile(r"^[ \t]*(?:[-*+][ \t]|\d{1,3}[.)][ \t])")
REQUIRED = ("id", "source", "path", "commit", "policy", "start", "end", "sha256", "labels")


class ArchiveError(ValueError):
    """An archive, commit or file that cannot be read; the message names it."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_dir(source: str, mirrors: Path) -> Path:
    """The git directory of an archive 'owner/name' as `fetch` leaves it: <owner>+<name>/repo
    (bare) or .../repo/.git."""
    base = mirrors / source.replace("/", "+") / "repo"
    for candidate in (base / ".git", base):
        if (candidate / "HEAD").exists():
            return candidate
    raise ArchiveError(f"{source}: no mirror at {base} (fetch github:{source} first)")


def _git(directory: Path, *args: str) -> bytes:
    result = subprocess.run(["git", "--git-dir", str(directory), *args], capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ArchiveError(f"{directory}: git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return result.stdout


def latest_commit(directory: Path, path: str) -> str:
    """The newest commit that touched path (the latest archived version of the file)."""
    commit = _git(directory, "log", "-1", "--format=%H", "--", path).decode().strip()
    if not commit:
        raise ArchiveError(f"{directory}: no commit holds {path}")
    return commit


def commit_date(directory: Path, commit: str) -> str:
    return _git(directory, "show", "-s", "--format=%cs", commit).decode().strip()


def archived_text(directory: Path, commit: str, path: str, extract: bool = False) -> str:
    """The file at commit, decoded UTF-8 as stored; with extract, the text the scanner's own
    extractor gets from it (HTML, PDF), with the content type guessed from the suffix."""
    raw = _git(directory, "show", f"{commit}:{path}")
    if not extract:
        return raw.decode("utf-8")
    content_type = CONTENT_TYPES.get(Path(path).suffix.lower())
    try:
        return extract_document(raw, content_type, url=path).text
    except DocumentError as exc:
        raise ArchiveError(str(exc)) from None


def clean_title(title: str) -> str:
    """A heading as read: links as their text, no emphasis marks or backslash escapes."""
    title = MARKDOWN_LINK.sub(r"\1", title)
    title = MARKDOWN_ESCAPE.sub(r"\1", title)
    return " ".join(title.replace("**", "").replace("__", "").split())


def heading_paths(text: str) -> list[tuple[int, str]]:
    """(offset, heading path) at each Markdown heading, `#` lines or a title underlined with
    `===` (h1) or `---` (h2): the titles of the enclosing levels, joined with " > "."""
    stack: list[tuple[int, str]] = []
    paths = []
    position, previous = 0, None  # previous: (offset, line) of a non-blank line of prose
    for line in text.split("\n"):
        start = position
        position += len(line) + 1
        found = None
        atx = MARKDOWN_HEADING.match(line)
        if atx:
            found = (start, len(atx.group(1)), clean_title(atx.group(2)))
        elif SETEXT_UNDERLINE.match(line) and previous is not None:
            found = (previous[0], 1 if line.strip()[0] == "=" else 2, clean_title(previous[1]))
        previous = (start, line) if line.strip() and not found and not LIST_LINE.match(line) \
            else None
        if found:
            offset, level, title = found
            stack = [(lvl, name) for lvl, name in stack if lvl < level]
            stack.append((level, title))
            paths.append((offset, " > ".join(name for _, name in stack)))
    return paths


def heading_at(paths: list[tuple[int, str]], offset: int) -> str:
    """The heading path above offset; a heading line itself has the path of its parents."""
    current = ""
    for start, path in paths:
        if start >= offset:
            break
        current = path
    return current


def find_window(text: str, length: int, digest: str) -> int | None:
    """Start of a window of text of that length whose sha256 is digest (the archive moved the
    sentence, e.g. a different commit's text was stored); None when there is none."""
    for start in range(0, len(text) - length + 1):
        if sha256(text[start:start + length]) == digest:
            return start
    return None


def materialise_file(labels_path: Path, mirrors: Path, out_dir: Path, cache: dict) -> list[str]:
    """Write out_dir/<set>.jsonl for one labels file; returns one error line per bad record."""
    errors, rows = [], []
    with open(labels_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{labels_path}:{number}: not valid JSON: {exc.msg}")
                continue
            missing = [key for key in REQUIRED if key not in record]
            if missing:
                errors.append(f"{labels_path}:{number}: {record.get('id', '?')}: missing "
                              f"{', '.join(missing)}")
                continue
            key = (record["source"], record["commit"], record["path"], bool(record.get("extract")))
            try:
                if key not in cache:
                    cache[key] = archived_text(git_dir(record["source"], mirrors), key[1], key[2],
                                               key[3])
            except (ArchiveError, UnicodeDecodeError) as exc:
                errors.append(f"{labels_path}: {record['id']}: {exc}")
                continue
            text = cache[key]
            start, end = record["start"], record["end"]
            if sha256(text[start:end]) != record["sha256"]:
                found = find_window(text, end - start, record["sha256"])
                if found is None:
                    errors.append(f"{labels_path}: {record['id']}: sha256 of {record['path']} "
                                  f"[{start}:{end}] at {record['commit'][:12]} does not match, "
                                  "and no window of that length does")
                    continue
                start, end = found, found + (end - start)
            row = {"id": record["id"], "source": record["source"], "policy": record["policy"],
                   "text": text[start:end], "labels": record["labels"],
                   "heading": record.get("heading", ""), "lang": record.get("lang", "en")}
            # The set's own A/B split, which bench/accuracy.py's part_of reads.
            row.update({key: record[key] for key in ("split", "part") if key in record})
            rows.append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / labels_path.name, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return errors


def materialise(labels_dir: Path, mirrors: Path, out_dir: Path) -> int:
    cache: dict = {}
    errors = []
    # relabel-*.jsonl hold a second labeller's labels (ids and labels only, no offsets):
    # bench/label_agreement.py reads them; they are not sets to rebuild.
    files = sorted(p for p in labels_dir.glob("*.jsonl") if not p.name.startswith("relabel-"))
    for path in files:
        errors.extend(materialise_file(path, mirrors, out_dir, cache))
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(files)} labelled sets written to {out_dir} ({len(errors)} records not rebuilt)")
    return 1 if errors else 0


def candidates(source: str, path: str, commit: str | None, mirrors: Path, extract: bool) -> None:
    directory = git_dir(source, mirrors)
    commit = commit or latest_commit(directory, path)
    text = archived_text(directory, commit, path, extract)
    date = commit_date(directory, commit)
    paths = [] if extract else heading_paths(text)
    for number, (start, end) in enumerate(split_sentences(text)):
        sentence = text[start:end]
        print(json.dumps({"n": number, "commit": commit, "date": date, "start": start, "end": end,
                          "sha256": sha256(sentence), "heading": heading_at(paths, start),
                          "text": sentence}, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=MIRRORS,
                        help="folder of the archives' git mirrors (<owner>+<name>/repo)")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("materialise", help="rebuild bench/.texts/<set>.jsonl")
    build.add_argument("--labels", type=Path, default=LABELS_DIR)
    build.add_argument("--out", type=Path, default=TEXTS_DIR)
    show = commands.add_parser("candidates", help="sentences of one archived policy, as JSON lines")
    show.add_argument("--source", required=True, help="archive repository, owner/name")
    show.add_argument("--path", required=True, help="file path in the archive")
    show.add_argument("--commit", help="archive commit (default: the newest that touched --path)")
    show.add_argument("--extract", action="store_true",
                      help="read the file through scanner.extract (HTML, PDF)")
    for sub in (build, show):
        sub.add_argument("--mirrors", type=Path, default=argparse.SUPPRESS,
                         help="as the option before the command")
    args = parser.parse_args(argv)
    try:
        if args.command == "materialise":
            return materialise(args.labels, args.mirrors, args.out)
        candidates(args.source, args.path, args.commit, args.mirrors, args.extract)
    except (ArchiveError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
