"""tools/check_figures.py: every measured figure of the documents is in a JSON it cites."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location(
        "check_figures", os.path.join(ROOT, "tools", "check_figures.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo(tmp_path):
    """A synthetic repository with one results file; returns a `text -> misses` checker."""
    results = {
        "ap50": 0.81503,
        "median_s": 0.0074412,
        "wall_s": 614.2,
        "size_bytes": 4123456,
        "train_s": 2135.4,
        "note": "all 196 ops map",
    }
    (tmp_path / "results.json").write_text(json.dumps({"run": results}))
    return tmp_path


def _check(checker, root, text):
    (root / "doc.md").write_text(text)
    return checker.check_document("doc.md", str(root))


def test_figures_found_at_the_written_precision(checker, repo):
    text = (
        "<!-- figures: results.json -->\n"
        "AP50 0.815 (81.5 %), 7.44 ms median, 10 min 14 s wall, 4.12 MB, 2,135 s,\n"
        "all 196 ops; -0.815 and 81.50% too.\n"
    )
    assert _check(checker, repo, text) == []


def test_a_figure_without_source_fails_with_its_line(checker, repo):
    text = "<!-- figures: results.json -->\nAP50 0.815\n\nlatency 7.45 ms, AP 0.816\n"
    misses = _check(checker, repo, text)
    assert [(miss.line, miss.message.split("'")[1]) for miss in misses] == [
        (4, "7.45 ms"),
        (4, "0.816"),
    ]
    assert "results.json" in misses[0].message
    assert checker.main(["doc.md", "--root", str(repo)]) == 1


def test_precision_is_the_written_one(checker, repo):
    # 0.82 is 0.81503 at two decimals, 0.8150 is it at four; 0.8151 is not.
    text = "<!-- figures: results.json -->\n0.82, 0.8150, 0.8151\n"
    assert [miss.message.split("'")[1] for miss in _check(checker, repo, text)] == ["0.8151"]


def test_a_measured_figure_outside_any_region_fails(checker, repo):
    text = "# Title\n\nThe demo takes 12 min 27 s and reaches AP50 0.815.\n"
    misses = _check(checker, repo, text)
    assert [miss.message.split("'")[1] for miss in misses] == ["12 min 27 s", "0.815"]
    assert all("no figures comment" in miss.message for miss in misses)


def test_end_figures_closes_the_region(checker, repo):
    text = "<!-- figures: results.json -->\n0.815\n<!-- end figures -->\nsteps 2500 at 3.5 ms\n"
    assert [miss.message.split("'")[1] for miss in _check(checker, repo, text)] == ["3.5 ms"]


def test_not_figures_exempts_only_its_region(checker, repo):
    text = (
        "<!-- figures: results.json -->\n"
        "<!-- not-figures (the recipe's configuration): 3e-5 1,333 -->\n"
        "lr 3e-5, longer side 1,333, AP50 0.815\n"
        "<!-- figures: results.json -->\n"
        "lr 3e-5\n"
    )
    misses = _check(checker, repo, text)
    assert [(miss.line, miss.message.split("'")[1]) for miss in misses] == [(5, "3e-5")]


def test_a_figures_comment_inside_code_is_not_a_declaration(checker, repo):
    text = "Write `<!-- figures: results.json -->` above a table.\n\nAP50 0.815\n"
    misses = _check(checker, repo, text)
    assert [miss.message.split("'")[1] for miss in misses] == ["0.815"]


def test_code_identifiers_dates_and_single_digits_are_not_figures(checker, repo):
    text = (
        "<!-- figures: results.json -->\n"
        "`--steps 1234` mobilenetv2_035 P3 int8 512x512 TF 2.21.0 on 2026-11-28 21:07,\n"
        "5 classes, [link](docs/a_17.md)\n"
        "```bash\npython run.py --lr 0.123\n```\n"
    )
    assert _check(checker, repo, text) == []


def test_a_cited_file_that_is_missing_fails(checker, repo):
    misses = _check(checker, repo, "<!-- figures: missing.json -->\n0.815\n")
    assert any("cannot read cited file missing.json" in miss.message for miss in misses)


def test_the_repository_documents_pass_and_cite_committed_files(checker):
    documents = checker.default_documents(ROOT)
    assert "README.md" in documents and "benchmarks/MOBILE.md" in documents
    misses = [miss for doc in documents for miss in checker.check_document(doc, ROOT)]
    assert misses == [], "\n".join(str(miss) for miss in misses)
    cited = sorted({name for doc in documents for name in checker.cited_files(doc, ROOT)})
    assert "benchmarks/results/mobile_targets.json" in cited
    if os.path.isdir(os.path.join(ROOT, ".git")):
        tracked = subprocess.run(
            ["git", "ls-files", "--", *cited], cwd=ROOT, capture_output=True, text=True
        ).stdout.split()
        assert sorted(tracked) == cited, "cited files not committed"
