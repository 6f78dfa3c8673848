"""Case files for tests, written the documented way (TOML), varied per test."""

from __future__ import annotations

from pathlib import Path

from domain.case import CaseFile
from domain.procedure import Procedure, load_procedure
from enforce.cases import load_case

ROOT = Path(__file__).resolve().parent.parent
CLEARVIEW = ROOT / "cases" / "clearview.toml"


def clearview_text(slug: str = "clearview-ai") -> str:
    return CLEARVIEW.read_text().replace('slug = "clearview-ai"', f'slug = "{slug}"', 1)


def write_case(tmp: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def clearview(slug: str, tmp: Path) -> tuple[CaseFile, Procedure]:
    return load_case(write_case(tmp, clearview_text(slug), f"{slug}.toml"))


def procedure() -> Procedure:
    return load_procedure("ca-joint")
