"""Convert the Mohler et al. (2011) short-answer set to the `coach eval` CSV columns.

    python -m evals.convert_mohler [SOURCE_CSV] [DEST_CSV]
    coach eval DEST_CSV --out DIR --human-scale 5

The one conversion, column by column:
  question     <- question         (free text: these are not guide questions)
  answer       <- student_answer
  reference    <- desired_answer   (graded against instead of the guide)
  human_score  <- score_avg        (the mean of the two human grades, 0-5, unchanged)
  id           <- "m" + the first (spreadsheet index) column, zero-padded: "m0042"
The spreadsheet index columns, `id` (the question number, e.g. "1.1"), score_me and
score_other are dropped. Answers that read `#NAME?` (spreadsheet damage in this copy,
see SOURCE.md) are counted and left out. Nothing else is filtered, fitted or sampled.
Cells are written as they are (no formula quoting): this file is input for the
grader, not a spreadsheet export, and quoting would change the answers.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from coach.errors import InputError

SOURCE = Path("/work/shared/datasets/mohler/mohler_dataset_edited.csv")
DAMAGED = "#NAME?"
COLUMNS = ("question", "answer", "reference", "human_score", "id")
NEEDED = ("", "question", "desired_answer", "student_answer", "score_avg")


@dataclass(frozen=True)
class MohlerConversion:
    source: Path
    dest: Path
    n_source: int  # answers in the source file
    n_written: int
    damaged_ids: tuple[str, ...]  # rows left out because the answer is `#NAME?`

    def to_json(self) -> dict:
        return {"source": str(self.source), "dest": str(self.dest), "n_source": self.n_source,
                "n_written": self.n_written, "n_damaged": len(self.damaged_ids), "damaged_ids": list(self.damaged_ids)}


def convert(source: Path = SOURCE, dest: Path = Path("mohler.csv")) -> MohlerConversion:
    try:
        with source.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{source} is not the Mohler CSV: no column(s) {', '.join(map(repr, missing))}.")
            rows = list(reader)
    except FileNotFoundError:
        raise InputError(f"{source} does not exist; see /work/shared/datasets/mohler/SOURCE.md.") from None
    damaged: list[str] = []
    out: list[list[str]] = []
    for row in rows:
        row_id = f"m{int(row['']):04d}"
        if row["student_answer"].strip() == DAMAGED:
            damaged.append(row_id)
            continue
        out.append([row["question"], row["student_answer"], row["desired_answer"], row["score_avg"], row_id])
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(out)
    return MohlerConversion(source, dest, len(rows), len(out), tuple(damaged))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    source = Path(args[0]) if args else SOURCE
    dest = Path(args[1]) if len(args) > 1 else Path("mohler.csv")
    try:
        result = convert(source, dest)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {result.n_written} of {result.n_source} answers to {dest}; "
          f"left out {len(result.damaged_ids)} damaged ({DAMAGED}) answers: {', '.join(result.damaged_ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
