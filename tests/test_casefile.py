"""Case files: the shipped ones load; bad ones are refused with one line naming the file and the field."""

from __future__ import annotations

import subprocess
import sys

import pytest

from domain.errors import DataError
from enforce.cases import load_case
from tests.casefiles import CLEARVIEW, ROOT, clearview_text, write_case


def test_the_clearview_case_file_loads_with_its_procedure():
    case, procedure = load_case(CLEARVIEW)
    assert case.slug == "clearview-ai"
    assert case.lead == "opc"
    assert set(case.authorities) == set(procedure.authorities)
    assert case.files == {"opc": "PIPEDA-039525", "cai-qc": "1023158", "oipc-bc": "P20-81997", "oipc-ab": "015017"}
    assert case.opened.isoformat() == "2020-02-21"


BAD = [
    # (what is wrong, how to break the text, the field the error must name)
    ("missing title", lambda t: t.replace('title = "Joint investigation of Clearview AI, Inc."\n', ""), "title"),
    ("unknown authority", lambda t: t.replace('"oipc-ab"]', '"oipc-on"]', 1), "authorities[3]"),
    ("unknown procedure", lambda t: t.replace('procedure = "ca-joint"', 'procedure = "eu-oss"'), "procedure"),
    (
        "lead not a party",
        lambda t: t.replace('lead = "opc"', 'lead = "oipc-ab"').replace(', "oipc-ab"]', "]", 1),
        "lead",
    ),
    ("impossible date", lambda t: t.replace("opened = 2020-02-21", "opened = 2020-02-30"), "opened"),
    ("date as text", lambda t: t.replace("opened = 2020-02-21", 'opened = "next week"'), "opened"),
    ("missing respondent name", lambda t: t.replace('name = "Clearview AI, Inc."\n', ""), "respondent.name"),
    ("bad slug", lambda t: t.replace('slug = "clearview-ai"', 'slug = "Clearview AI"'), "slug"),
    (
        "step by a stranger",
        lambda t: t.replace('by = "respondent"', 'by = "rcmp"', 1),
        "steps[0] (2020-07-06 record-voluntary-measure).by",
    ),
]


@pytest.mark.parametrize("label,breaks,field", BAD, ids=[b[0] for b in BAD])
def test_a_bad_case_file_names_the_field(tmp_path, label, breaks, field):
    text = breaks(clearview_text())
    assert text != clearview_text(), "the breaking edit did not apply"
    path = write_case(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_case(path)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_the_cli_refuses_a_bad_case_file_with_status_2_and_one_line(tmp_path):
    path = write_case(tmp_path, clearview_text().replace('lead = "opc"', 'lead = "ftc"'))
    # Nothing reachable at this address: a refusal must come before any attempt to connect.
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "enforce.main", "open", str(path)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "lead" in lines[0] and "ftc" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_procedure_naming_a_notice_without_a_template_is_refused_at_open(tmp_path):
    procedures = tmp_path / "procedures"
    procedures.mkdir()
    shipped = (ROOT / "domain" / "procedures" / "ca-joint.toml").read_text()
    broken = shipped.replace('kind = "notice-of-inquiry"', 'kind = "notice-of-séance"')
    assert broken != shipped
    (procedures / "ca-joint.toml").write_text(broken)  # beside the case file: it wins over the shipped one
    path = write_case(tmp_path, clearview_text())
    with pytest.raises(DataError) as caught:
        load_case(path)
    assert caught.value.field == "notices.InquiryOpened.kind"
    assert "no template for notice kind 'notice-of-séance'" in str(caught.value)
