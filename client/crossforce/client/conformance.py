"""The conformance kit's runner: feeds an implementation every vector and judges its answers.

A force's system written in another language must turn records into exactly our tokens and index bytes,
or its people are silently missed (issue 18). The kit (tests/vectors/conformance: vectors as JSON Lines,
``runner.md`` the contract) tests any implementation the same way: it starts the implementation's
command, writes one request per line on its stdin, reads one answer per line from its stdout, and
compares each answer with the vector's expected value. Nothing here knows how an answer is computed, so
the reference adapter (``conformance_ref``) passes through exactly the door another language would.

Invariants: every vector is judged (a timeout, a crash or a stray line fails that vector, and the
implementation is restarted for the rest); answers are compared as JSON values, strictly (a boolean is
never a number), floats within the vector's relative tolerance; a report never depends on timing.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import queue
import subprocess
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from crossforce.encoding.keytypes import decode_key
from crossforce.errors import ValidationError

Json = Any
"""A decoded JSON value."""

KIT_NAME: Final = "crossforce-conformance"
KIT_FOLDER: Final = Path("tests") / "vectors" / "conformance"
DEFAULT_TIMEOUT_S: Final = 10.0
"""Seconds an implementation may take over one answer (the largest vector builds a 64 MiB filter)."""
MAX_RESTARTS: Final = 10
"""Restarts after a crash or timeout before the remaining vectors are failed unrun."""
DIFF_LINES: Final = 40
"""Lines of one failure's diff shown before the rest are counted."""
SHOWN_CHARS: Final = 240
"""Characters of one input value shown in a diff (a 10,000-code-point name is cut)."""
STDERR_LINES: Final = 20
EXIT_GRACE_S: Final = 5.0
"""Seconds an implementation has to exit once its input is closed."""


LINE_BREAKS_ESCAPED: Final = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
"""Line breaks JSON may leave raw that some line readers split on (Python's ``splitlines``, editors)."""


def json_line(value: Json) -> str:
    """One JSON line as the kit writes it: UTF-8 text, compact, ending LF, and no raw character that any
    line reader could take for a line break (so requests and vector files split on LF alone)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(LINE_BREAKS_ESCAPED) + "\n"


@dataclass(frozen=True)
class Vector:
    id: str
    op: str
    rule: str
    note: str
    input: Json
    expected: Json
    """``{"output": value}`` or ``{"error": {"code": ..., ...}}``."""
    tolerance: float | None
    file: str

    def request(self) -> dict[str, Json]:
        """What the implementation is sent: never the expected value."""
        return {"id": self.id, "op": self.op, "input": self.input}


@dataclass(frozen=True)
class Kit:
    directory: Path
    manifest: dict[str, Json]
    vectors: tuple[Vector, ...]

    @property
    def made(self) -> str:
        return str(self.manifest.get("made", "?"))

    def ops(self) -> Counter[str]:
        return Counter(v.op for v in self.vectors)

    def rules(self) -> Counter[str]:
        return Counter(v.rule for v in self.vectors)

    def only(self, ops: Collection[str]) -> Kit:
        """The kit restricted to ``ops`` (all of it when empty); an op the kit lacks is an error."""
        unknown = sorted(set(ops) - set(self.ops()))
        if unknown:
            raise ValidationError(f"no vectors for {', '.join(unknown)}", field="--only")
        chosen = tuple(v for v in self.vectors if not ops or v.op in ops)
        return Kit(self.directory, self.manifest, chosen)


def default_kit_dir() -> Path:
    """The kit in the working directory's checkout, else in the checkout this module runs from."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (root / KIT_FOLDER / "manifest.json").is_file():
            return root / KIT_FOLDER
    raise ValidationError(
        f"no kit found here: pass --vectors DIR ({KIT_FOLDER} in the crossforce repository)"
    )


def load_kit(directory: Path) -> Kit:
    """Read ``manifest.json`` and every vector file it lists, header line first."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        vectors: list[Vector] = []
        for entry in manifest["vector_files"]:
            lines = (directory / entry["file"]).read_text(encoding="utf-8").rstrip("\n").split("\n")
            header = json.loads(lines[0])
            if header.get("kit") != KIT_NAME or header.get("vectors") != len(lines) - 1:
                raise ValueError(f"{entry['file']}: its header does not match its vectors")
            for line in lines[1:]:
                v = json.loads(line)
                vectors.append(
                    Vector(v["id"], v["op"], v["rule"], v["note"], v["input"], v["expected"],
                           v.get("tolerance"), entry["file"])
                )  # fmt: skip
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValidationError(f"{directory}: not a conformance kit ({exc})", field="vectors") from None
    return Kit(directory, manifest, tuple(vectors))


# --- judging ----------------------------------------------------------------------------------------


def same(expected: Json, actual: Json, tolerance: float | None = None) -> bool:
    """JSON equality, strict on types (true is not 1), numbers within ``tolerance`` (relative) if given."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if tolerance is None:
            return expected == actual
        return math.isclose(expected, actual, rel_tol=tolerance, abs_tol=0.0)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(expected[k], actual[k], tolerance) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same(e, a, tolerance) for e, a in zip(expected, actual, strict=True)
        )
    return type(expected) is type(actual) and expected == actual


def judge(vector: Vector, answer: Json) -> str | None:
    """Why ``answer`` fails ``vector`` (None when it passes). An expected error matches on the fields the
    vector names (``code``, and ``field`` for a record); an answer may add others, such as a message."""
    if not isinstance(answer, dict):
        return "the answer is not a JSON object"
    error = answer.get("error")
    if "error" in vector.expected:
        if not isinstance(error, dict):
            return "expected an error, got an output"
        if any(not same(value, error.get(k)) for k, value in vector.expected["error"].items()):
            return "a different error"
        return None
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else error
        return "the operation is not supported" if code == "unsupported_op" else f"answered error {code!r}"
    if "output" not in answer:
        return "the answer has neither output nor error"
    return (
        None if same(vector.expected["output"], answer["output"], vector.tolerance) else "the output differs"
    )


# --- the implementation -----------------------------------------------------------------------------


class NoAnswer(Exception):
    """The implementation gave no answer line: it timed out or exited."""


class Implementation:
    """The command under test, with threads that keep its pipes moving: a blocked write or a full
    stdout can never hang the runner, and the timeout covers writing the request too."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = tuple(command)
        self._proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._answers: queue.Queue[bytes | None] = queue.Queue()
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        for target in (self._read_answers, self._read_stderr, self._write_requests):
            threading.Thread(target=target, daemon=True).start()

    def _read_answers(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def _write_requests(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):  # the implementation exited: its reader says so
            while (data := self._requests.get()) is not None:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
            self._proc.stdin.close()

    def ask(self, request: dict[str, Json], timeout_s: float) -> tuple[Json, list[str]]:
        """The answer to ``request`` and any stray lines written before it; NoAnswer after ``timeout_s``."""
        self._requests.put(json_line(request).encode("utf-8"))
        stray: list[str] = []
        while True:
            try:
                line = self._answers.get(timeout=timeout_s)
            except queue.Empty:
                raise NoAnswer(f"no answer within {timeout_s:g} s") from None
            if line is None:
                raise NoAnswer(f"the implementation exited (status {self._proc.wait()})")
            try:
                answer = json.loads(line)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("id") == request["id"]:
                return answer, stray
            stray.append(line.decode("utf-8", "replace").rstrip())

    def close(self) -> None:
        """End of input, then a few seconds to exit before it is killed."""
        self._requests.put(None)
        try:
            self._proc.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Stop an implementation that stopped answering (its pipes close, so the threads end)."""
        self._requests.put(None)
        self._proc.kill()
        self._proc.wait()


# --- a run ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    vector: Vector
    problem: str | None
    """None: passed."""
    answer: Json = None
    stray: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Report:
    kit: Kit
    command: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    restarts: int = 0
    failures: tuple[Outcome, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "failures", tuple(o for o in self.outcomes if not o.passed))

    @property
    def passed(self) -> int:
        return len(self.outcomes) - len(self.failures)

    def by_op(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for o in self.outcomes:
            counts = out.setdefault(o.vector.op, {"passed": 0, "failed": 0})
            counts["passed" if o.passed else "failed"] += 1
        return out

    def as_json(self) -> dict[str, Json]:
        return {
            "kit": {"directory": str(self.kit.directory), "made": self.kit.made,
                    "spec_version": self.kit.manifest.get("spec_version")},
            "command": list(self.command),
            "passed": self.passed,
            "failed": len(self.failures),
            "restarts": self.restarts,
            "by_op": self.by_op(),
            "failures": [
                {"id": o.vector.id, "op": o.vector.op, "rule": o.vector.rule, "note": o.vector.note,
                 "file": o.vector.file, "problem": o.problem, "input": o.vector.input,
                 "expected": o.vector.expected, "answer": o.answer, "stray_lines": list(o.stray),
                 "stderr": list(o.stderr)}
                for o in self.failures
            ],
        }  # fmt: skip


def run_kit(
    kit: Kit,
    command: Sequence[str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Every vector of ``kit`` through ``command``; OSError when the command cannot be started."""
    impl: Implementation | None = Implementation(command)
    outcomes: list[Outcome] = []
    restarts = 0
    try:
        for vector in kit.vectors:
            if impl is None:
                outcome = Outcome(vector, f"not run: the implementation failed {restarts} times")
            else:
                try:
                    answer, stray = impl.ask(vector.request(), timeout_s)
                    problem = judge(vector, answer)
                    if problem is None and stray:
                        problem = f"{len(stray)} stray line(s) on stdout before the answer"
                    outcome = Outcome(vector, problem, answer, tuple(stray))
                except NoAnswer as exc:
                    outcome = Outcome(vector, str(exc), stderr=tuple(impl.stderr))
                    impl.kill()
                    restarts += 1
                    impl = Implementation(command) if restarts <= MAX_RESTARTS else None
            outcomes.append(outcome)
            if progress is not None:
                progress(len(outcomes))
    finally:
        if impl is not None:
            impl.close()
    return Report(kit, tuple(command), tuple(outcomes), restarts)


# --- showing a failure ------------------------------------------------------------------------------


def shown(value: Json, limit: int = SHOWN_CHARS) -> str:
    """One JSON line, invisible characters escaped (a zero-width joiner must be seen), long text cut."""
    text = "".join(
        c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
        for c in json.dumps(value, ensure_ascii=False)
    )
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _lines(value: Json) -> list[str]:
    """A value as lines to diff; a list of keys becomes one decoded key per line."""
    if isinstance(value, list) and value and all(isinstance(k, dict) and "canonical_hex" in k for k in value):
        out = []
        for k in value:
            try:
                key_type, fields = decode_key(bytes.fromhex(str(k["canonical_hex"])))
                said = "" if k.get("type") == key_type else f" (answered as type {shown(k.get('type'))})"
                out.append(f"type {key_type}{said}: " + " | ".join(shown(f, 60) for f in fields))
            except (ValueError, ValidationError):
                out.append(f"undecodable key {shown(k, 80)}")
        return out
    if isinstance(value, dict | list):
        return [shown(v, 2000) for v in json.dumps(value, indent=1, ensure_ascii=False).splitlines()]
    return [shown(value, 2000)]


def diff_lines(outcome: Outcome) -> list[str]:
    """A failure for people: the vector, what was wrong, and expected against actual."""
    v = outcome.vector
    out = [f"FAIL {v.id} ({v.op}, rule {v.rule}, {v.file}): {v.note}", f"  input: {shown(v.input)}"]
    out.append(f"  problem: {outcome.problem}")
    actual = outcome.answer if isinstance(outcome.answer, dict) else None
    if actual is not None:
        expected = v.expected.get("output", {"error": v.expected.get("error")})
        got = actual.get("output", {"error": actual.get("error")})
        want, have = _lines(expected), _lines(got)
        diff = list(difflib.unified_diff(want, have, lineterm="", n=1))[2:]
        if len(want) == len(have) == 1:
            diff = [line for line in diff if not line.startswith("@@")]
        out.append("  - expected, + answered:")
        out += [f"    {line}" for line in diff[:DIFF_LINES]]
        if len(diff) > DIFF_LINES:
            out.append(f"    ... {len(diff) - DIFF_LINES} more diff lines (--json has the whole answer)")
    out += [f"  stray stdout: {shown(line)}" for line in outcome.stray[:3]]
    out += [f"  stderr: {line}" for line in outcome.stderr[-5:]]
    return out
