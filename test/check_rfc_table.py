#!/usr/bin/python3
"""check_rfc_table.py -- keeps docs/rfc6455.md and docs/tour.md true to the
code. Each row of the RFC table cites functions (`name()` in `file.c`, the
file relative to src/; `file.h` for an inline function) and tests; each function must still be defined in its
file and carry the row's section (a "§5.5" comment, or one of a subsection,
"§5.5.1", between its first line and its closing brace), and each test must
still exist: a C function of test/unit/*.c that main() calls, a Python test
method of test/int/ or test/clients/, or a case id of the conformance suite.
The tour's functions, tests and files are checked the same way. Every
problem is printed with its line; the exit status is 1 if there was one.

    /usr/bin/python3 test/check_rfc_table.py      (make rfc-table)
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
CITE = re.compile(r"`(\w+)\(\)` in `([\w./]+\.[ch])`")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def function_body(path, name):
    """The lines of name's definition in path, signature to closing brace."""
    lines = read(path).split("\n")
    for i, line in enumerate(lines):
        if not re.match(rf"[A-Za-z].*\b{name}\(", line):
            continue
        for j in range(i, len(lines)):           # a prototype ends in ';' first
            if lines[j].rstrip().endswith(";"):
                break
            if lines[j] == "{":
                end = lines.index("}", j)
                return "\n".join(lines[i:end + 1])
    return None


def source_files():
    return glob.glob(os.path.join(SRC, "**", "*.c"), recursive=True)


def conformance_ids():
    sys.path[:0] = [os.path.join(ROOT, "test", "lib"), os.path.join(ROOT, "test", "conformance")]
    import conformance
    for name in dir(conformance):
        if name.endswith("_cases"):
            getattr(conformance, name)()
    return {cid for _, cid, _, _ in conformance.CASES}


def known_tests():
    """Every test by the name a document may use."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "test", "unit", "*.c")):
        text = read(path)
        for name in re.findall(r"^static void (test_\w+)\(void\)", text, re.M):
            if re.search(rf"^\s+{name}\(\);", text, re.M):
                names.add(name)
    for suite in ("int", "clients"):
        for path in glob.glob(os.path.join(ROOT, "test", suite, "*.py")):
            names.update(re.findall(r"^    def (test_\w+)\(", read(path), re.M))
    return names | conformance_ids()


class Checker:
    def __init__(self):
        self.problems = []
        self.tests = known_tests()
        self.counts = {"functions": 0, "tests": 0}

    def problem(self, where, what):
        self.problems.append(f"{where}: {what}")

    def function(self, where, name, file, section=None):
        """name() is defined in src/file (anywhere in src/ if file is None)
        and, given a section, carries it in its body."""
        self.counts["functions"] += 1
        paths = [os.path.join(SRC, file)] if file else source_files()
        bodies = [b for b in (function_body(p, name) for p in paths if os.path.exists(p)) if b]
        if not bodies:
            self.problem(where, f"{name}() is not defined in {file or 'src/'}")
        elif section and not re.search(re.escape(section) + r"(?![0-9])", bodies[0]):
            self.problem(where, f"{name}() in {file} has no {section} comment in its body")

    def test(self, where, name):
        self.counts["tests"] += 1
        if name not in self.tests:
            self.problem(where, f"no test named {name}")

    def rfc_row(self, where, cells):
        section, _, enforced, tests = cells
        cites = CITE.findall(enforced)
        named = re.findall(r"`([^`]+)`", tests)
        if "**not met**" not in enforced and not (cites and named):
            self.problem(where, "a row needs a function and a test, or says **not met**")
        for name, file in cites:
            self.function(where, name, file, section)
        for name in named:
            self.test(where, name)

    def rfc_table(self, path):
        rows = 0
        for n, line in enumerate(read(path).split("\n"), 1):
            if re.match(r"\| §\d", line):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) != 4:
                    self.problem(f"{path}:{n}", f"{len(cells)} cells, not 4")
                    continue
                rows += 1
                self.rfc_row(f"{path}:{n}", cells)
        if rows < 40:
            self.problem(path, f"only {rows} rows: the table was cut?")
        return rows

    def tour(self, path):
        for n, line in enumerate(read(path).split("\n"), 1):
            where = f"{path}:{n}"
            cited = {name for name, _ in CITE.findall(line)}
            for name, file in CITE.findall(line):
                self.function(where, name, file)
            for name in re.findall(r"`(\w+)\(\)`", line):
                if name not in cited:
                    self.function(where, name, None)
            for name in re.findall(r"`(test_\w+)`", line):
                self.test(where, name)
            for file in re.findall(r"`([\w/]+\.(?:c|h|py|md))`", line):
                if not any(os.path.exists(os.path.join(ROOT, d, file))
                           for d in ("", "src", "test", "test/unit", "test/int", "docs")):
                    self.problem(where, f"no file {file}")


def main():
    os.chdir(ROOT)
    c = Checker()
    rows = c.rfc_table("docs/rfc6455.md")
    c.tour("docs/tour.md")
    for p in c.problems:
        print(p)
    print(f"check_rfc_table: {rows} RFC rows, {c.counts['functions']} functions and "
          f"{c.counts['tests']} tests cited, {len(c.problems)} problems")
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())
