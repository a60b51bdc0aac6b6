"""The ``astrorepro`` command line.

::

    astrorepro list                                  chapters, their parameters and budgets
    astrorepro run CHAPTER [CHAPTER ...] --mode quick|full [--seed N] [-p NAME VALUE ...] [--jobs N]
    astrorepro run all                               every chapter, then the book's other pages
    astrorepro build                                 build the HTML book from the executed notebooks
    astrorepro scorecard                             print every chapter's reproduction table

Every argument is checked before any work starts: a wrong chapter, mode or parameter gets a one-line
error that says what is allowed, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__, chapters
from .chapters import CHAPTERS, MODES


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the usage block
        self.exit(2, f"astrorepro: error: {message}\n")


def _fail(message: str) -> int:
    print(f"astrorepro: error: {message}", file=sys.stderr)
    return 2


def cmd_list(args) -> int:
    from .execute import notebook_parameters
    from .paths import BOOK_DIR

    for key in CHAPTERS:
        info = chapters.info(key)
        params = notebook_parameters(BOOK_DIR / info.notebook)
        shown = " ".join(f"{k}={v!r}" for k, v in params.items())
        print(f"{key:<12} {info.title} ({info.paper}, arXiv:{info.arxiv})")
        print(f"{'':<12} parameters: {shown}")
        print(f"{'':<12} quick-mode budget: {info.budget_quick_s} s on 2 CPU cores; modes: {', '.join(MODES)}")
    return 0


def _pages() -> list[Path]:
    """The notebooks of the book that are not chapters (data pages, then the scorecard page last)."""
    from .book import toc_notebooks

    chapter_nbs = {chapters.info(k).notebook for k in CHAPTERS}
    pages = [nb for nb in toc_notebooks() if nb.name not in chapter_nbs]
    return sorted(pages, key=lambda p: p.stem in ("scorecard", "status"))


def cmd_run(args) -> int:
    from .execute import Job, chapter_job, execute_many
    from .paths import run_dir

    names = list(CHAPTERS) if args.chapters == ["all"] else args.chapters
    unknown = [n for n in names if n not in CHAPTERS]
    if unknown:
        return _fail(f"unknown chapter {unknown[0]!r}; choose from: {', '.join(CHAPTERS)}, all")
    if args.seed < 0:
        return _fail(f"--seed must be a non-negative integer, got {args.seed}")
    if args.jobs < 1:
        return _fail(f"--jobs must be at least 1, got {args.jobs}")
    out = Path(args.output_dir).resolve() if args.output_dir else run_dir()
    extra = dict(args.param or [])
    try:
        jobs = [chapter_job(k, args.mode, args.seed, extra, out) for k in names]
        pages = [Job(p.stem, p, {}, out) for p in _pages()] if args.chapters == ["all"] else []
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))

    print(f"executing {', '.join(j.name for j in jobs)} in {args.mode} mode (seed {args.seed}) into {out}", flush=True)
    summaries = ("scorecard", "status")  # read the chapters' results: run last
    results = execute_many(jobs + [p for p in pages if p.name not in summaries], workers=args.jobs)
    results += execute_many([p for p in pages if p.name in summaries])
    failed = 0
    for r in results:
        budget = chapters.info(r.name).budget_quick_s if r.name in CHAPTERS and args.mode == "quick" else None
        note = f" (quick-mode budget {budget} s{', OVER BUDGET' if budget and r.seconds > budget else ''})" if budget else ""
        status = "FAILED" if r.error else "ok"
        print(f"  {r.name:<14} {status:<6} {r.seconds:7.1f} s{note}  -> {r.output}")
        if r.error:
            failed += 1
            print("    " + r.error.replace("\n", "\n    "), file=sys.stderr)
    return 1 if failed else 0


def cmd_build(args) -> int:
    from .book import build_html

    try:
        index = build_html(Path(args.executed_dir) if args.executed_dir else None)
    except (FileNotFoundError, RuntimeError) as exc:
        return _fail(str(exc))
    print(f"book built: {index}")
    return 0


def cmd_scorecard(args) -> int:
    from .paths import run_dir
    from .scorecard import Scorecard

    folder = Path(args.executed_dir) if args.executed_dir else run_dir()
    found = 0
    for key in CHAPTERS:
        path = folder / f"{key}.scorecard.json"
        if not path.is_file():
            print(f"== {key}: no scorecard yet (run 'astrorepro run {key}')\n")
            continue
        found += 1
        sc = Scorecard.load(path)
        p = sc.provenance
        print(f"== {chapters.info(key).title} [{key}]")
        print(f"   mode {p.get('mode')}, device {p.get('device')}, seed {p.get('seed')}, astrorepro "
              f"{p.get('astrorepro_version')}, commit {p.get('git_commit')}, wall time {p.get('wall_time_s')} s")
        print(sc.table()[["claim", "our value", "criterion", "status"]].to_string(max_colwidth=60))
        print(f"   {sc.summary()}\n")
    return 0 if found else 1


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="astrorepro", description="Reproduce five papers on machine learning for astronomy.")
    parser.add_argument("--version", action="version", version=f"astrorepro {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="show the chapters with their parameters")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="execute chapters with papermill into the build folder")
    p.add_argument("chapters", nargs="+", metavar="CHAPTER", help=f"one or more of: {', '.join(CHAPTERS)}, or all")
    p.add_argument("--mode", choices=MODES, default="quick", help="quick (CPU, minutes) or full (GPU, paper scale)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random generator (default 0)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="set a notebook parameter")
    p.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (CPU cores are shared)")
    p.add_argument("--output-dir", help="where executed notebooks and scorecards go (default _build/executed)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("build", help="build the HTML book from the executed notebooks")
    p.add_argument("--executed-dir", help="folder of executed notebooks (default _build/executed)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("scorecard", help="print every chapter's reproduction table")
    p.add_argument("--executed-dir", help="folder of executed notebooks (default _build/executed)")
    p.set_defaults(func=cmd_scorecard)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
